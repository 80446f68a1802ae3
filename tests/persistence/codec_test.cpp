// Codecs: the built-in ones, WEFT_FIELDS structs, std::variant, user
// specializations, and the opt-in CBOR codec of nlohmann-json types
// (json_codec.hpp, linked through weft::json).

#include <weft/persistence/codec.hpp>
#include <weft/persistence/json_codec.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

using namespace weft::persistence;

namespace shop {

struct order_placed {
  std::string order_id;
  std::vector<std::string> items;
  double total = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(order_placed, order_id, items, total)

  friend bool operator==(const order_placed&, const order_placed&) = default;
};

struct money {
  std::int64_t cents = 0;
  friend bool operator==(const money&, const money&) = default;
};

enum class color : std::uint8_t { red = 1, green = 2 };

struct line_item {
  std::string sku;
  std::int32_t quantity = 0;
  std::optional<double> discount;
  WEFT_FIELDS(sku, quantity, discount)

  friend bool operator==(const line_item&, const line_item&) = default;
};

}  // namespace shop

template <>
struct weft::persistence::codec<shop::money> {
  static void encode(const shop::money& m, byte_writer& out) { out.write(m.cents); }
  static shop::money decode(byte_reader& in) { return {in.read<std::int64_t>()}; }
};

template <class T>
T round_trip(const T& value) {
  return decode<T>(encode(value));
}

// Runs `decode_call`, which must throw storage_error with corrupt; returns its text.
template <class F>
std::string corrupt_text(F decode_call) {
  try {
    decode_call();
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::corrupt);
    CHECK(e.error() == storage_errc::corrupt);
    return e.what();
  }
  FAIL("expected a corrupt error");
  return {};
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const bytes& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

TEST_CASE("arithmetic values and enums round-trip at their extremes") {
  CHECK(round_trip(std::numeric_limits<std::int64_t>::min()) ==
        std::numeric_limits<std::int64_t>::min());
  CHECK(round_trip(std::numeric_limits<std::uint32_t>::max()) ==
        std::numeric_limits<std::uint32_t>::max());
  CHECK(round_trip(-0.25) == -0.25);
  CHECK(round_trip(1.5f) == 1.5f);
  CHECK(round_trip(true) == true);
  CHECK(round_trip('x') == 'x');
  CHECK(round_trip(shop::color::green) == shop::color::green);
  CHECK(encode(std::uint32_t{0x01020304}) ==
        bytes{std::byte{4}, std::byte{3}, std::byte{2}, std::byte{1}});  // little-endian
}

TEST_CASE("strings, vectors, maps, optionals and pairs round-trip") {
  std::string with_nul("a\0b", 3);
  CHECK(round_trip(with_nul) == with_nul);
  CHECK(round_trip(std::string()).empty());
  std::vector<std::vector<int>> nested{{1, 2}, {}, {3}};
  CHECK(round_trip(nested) == nested);
  std::map<std::string, std::vector<double>> ordered{{"a", {1.0}}, {"b", {}}};
  CHECK(round_trip(ordered) == ordered);
  std::unordered_map<int, std::string> hashed{{1, "one"}, {2, "two"}};
  CHECK(round_trip(hashed) == hashed);
  CHECK(round_trip(std::optional<std::string>("x")) == std::optional<std::string>("x"));
  CHECK(round_trip(std::optional<int>()) == std::nullopt);
  CHECK(round_trip(std::pair<int, std::string>(1, "p")) == std::pair<int, std::string>(1, "p"));
}

TEST_CASE("a user specialization is used, also inside containers") {
  std::vector<shop::money> prices{{100}, {-5}};
  CHECK(round_trip(prices) == prices);
  CHECK(encode(shop::money{7}).size() == 8);
}

TEST_CASE("nlohmann-json types are stored as bare CBOR at the top level") {
  shop::order_placed order{"order-17", {"apple", "pear"}, 9.5};
  bytes payload = encode(order);
  auto raw = reinterpret_cast<const std::uint8_t*>(payload.data());
  nlohmann::json j = nlohmann::json::from_cbor(raw, raw + payload.size());
  CHECK(j["order_id"] == "order-17");
  CHECK(round_trip(order) == order);
  std::map<std::string, shop::order_placed> nested{{"k", order}};
  CHECK(round_trip(nested) == nested);
}

TEST_CASE("a WEFT_FIELDS struct is stored as its fields in the listed order and round-trips, also nested") {
  const shop::line_item pear{"pear", 3, 0.25};
  CHECK(encode(pear) ==
        concat({encode(std::string("pear")), encode(std::int32_t{3}), encode(std::optional<double>(0.25))}));
  CHECK(round_trip(pear) == pear);
  const shop::line_item plain{"fig", -1, std::nullopt};
  CHECK(round_trip(plain) == plain);
  std::vector<shop::line_item> order{pear, plain, {}};
  CHECK(round_trip(order) == order);
  std::map<std::string, shop::line_item> by_sku{{"pear", pear}, {"fig", plain}};
  CHECK(round_trip(by_sku) == by_sku);
  // A payload cut short is not a line_item.
  bytes cut = encode(pear);
  cut.pop_back();
  CHECK(corrupt_text([&] { decode<shop::line_item>(cut); }).find("input ends at byte") != std::string::npos);
}

TEST_CASE("a std::variant stores its alternative's index first and round-trips every alternative") {
  using value = std::variant<std::int32_t, std::string, shop::line_item, shop::money>;
  for (const value& v : {value(std::int32_t{-7}), value(std::string("seven")), value(shop::line_item{"kiwi", 7, {}}),
                         value(shop::money{700})}) {
    CAPTURE(v.index());
    const bytes stored = encode(v);
    REQUIRE_FALSE(stored.empty());
    CHECK(stored[0] == static_cast<std::byte>(v.index()));
    CHECK(round_trip(v) == v);
  }
  // The same type twice is told apart by the index, not the type.
  using twice = std::variant<std::int64_t, std::int64_t>;
  const twice second(std::in_place_index<1>, 5);
  CHECK(round_trip(second).index() == 1);
  CHECK(std::get<1>(round_trip(second)) == 5);
  std::vector<value> mixed{std::int32_t{1}, std::string("two"), shop::money{3}};
  CHECK(round_trip(mixed) == mixed);
}

TEST_CASE("a variant index beyond the alternatives is refused with corrupt, naming the index") {
  using value = std::variant<std::int32_t, std::string>;
  const std::string text = corrupt_text([] {
    decode<value>(bytes{std::byte{2}, std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}});
  });
  CHECK(text == "codec: a variant's index 2 is beyond its 2 alternatives; the payload is not of the decoded type");
  // A large index (a two-byte varint: 200) and one nested in a vector.
  CHECK(corrupt_text([] {
          decode<value>(bytes{std::byte{0xC8}, std::byte{0x01}});
        }).find("index 200") != std::string::npos);
  bytes nested = encode(std::vector<value>{std::int32_t{1}, std::string("x")});
  nested[1 + 1 + 4] = std::byte{9};  // count, first index, first int32: then the second index
  CHECK(corrupt_text([&] { decode<std::vector<value>>(nested); }).find("index 9") != std::string::npos);
}

TEST_CASE("decoding the wrong bytes fails with corrupt instead of returning garbage") {
  auto expect_corrupt = [](auto decode_call) {
    try {
      decode_call();
      FAIL("expected a corrupt error");
    } catch (const storage_error& e) {
      CHECK(e.code() == storage_errc::corrupt);
    }
  };
  expect_corrupt([] { decode<std::uint64_t>(encode(std::uint32_t{1})); });
  expect_corrupt([] { decode<std::uint16_t>(encode(std::uint32_t{1})); });  // left over
  expect_corrupt([] { decode<std::string>(bytes{std::byte{0xFF}, std::byte{0x7F}}); });
  expect_corrupt([] {
    decode<std::vector<int>>(bytes{std::byte{0xFF}, std::byte{0xFF}, std::byte{0x0F}});
  });
  expect_corrupt([] { decode<bool>(bytes{std::byte{2}}); });
  expect_corrupt([] { decode<shop::order_placed>(encode(std::string("not cbor"))); });
}

TEST_CASE("a CBOR payload nested 100,000 levels deep is refused with corrupt, without recursing into it") {
  constexpr std::size_t depth = 100'000;
  // [[[[...0...]]]]: definite-length arrays of one element each.
  bytes definite(depth, std::byte{0x81});
  definite.push_back(std::byte{0x00});
  CHECK(corrupt_text([&] { decode<shop::order_placed>(definite); }).find("at most 64 levels deep") !=
        std::string::npos);
  // The same with indefinite-length arrays, closed by as many breaks.
  bytes indefinite(depth, std::byte{0x9F});
  indefinite.push_back(std::byte{0x00});
  indefinite.insert(indefinite.end(), depth, std::byte{0xFF});
  CHECK(corrupt_text([&] { decode<shop::order_placed>(indefinite); }).find("at most 64 levels deep") !=
        std::string::npos);
  // And deep maps, nested inside another stored value (length-prefixed).
  bytes maps;
  for (std::size_t i = 0; i < depth; ++i) {
    maps.push_back(std::byte{0xA1});
    maps.push_back(std::byte{0x00});
  }
  maps.push_back(std::byte{0x00});
  bytes prefixed;
  byte_writer out(prefixed);
  out.write_varint(1);  // a vector of one order
  out.write_varint(maps.size());
  out.write_bytes(maps);
  CHECK(corrupt_text([&] { decode<std::vector<shop::order_placed>>(prefixed); }).find("at most 64 levels deep") !=
        std::string::npos);
  // A well-formed order still decodes after all that.
  shop::order_placed order{"order-18", {"fig"}, 1.0};
  CHECK(round_trip(order) == order);
}

TEST_CASE("make_event carries manifest and schema version next to the payload") {
  auto event = make_event(3, shop::money{42}, "money-v2", 2);
  CHECK(event.sequence_nr == 3);
  CHECK(event.manifest == "money-v2");
  CHECK(event.schema_version == 2);
  CHECK(decode<shop::money>(event.payload) == shop::money{42});
}
