#include <weft/persistence/codec.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
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

TEST_CASE("make_event carries manifest and schema version next to the payload") {
  auto event = make_event(3, shop::money{42}, "money-v2", 2);
  CHECK(event.sequence_nr == 3);
  CHECK(event.manifest == "money-v2");
  CHECK(event.schema_version == 2);
  CHECK(decode<shop::money>(event.payload) == shop::money{42});
}
