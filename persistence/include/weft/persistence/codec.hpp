#pragma once

// Turning values into event and snapshot payloads and back.
//
// A type is storable when codec<T> has
//     static void encode(const T& value, byte_writer& out);
//     static T decode(byte_reader& in);
// Built in: arithmetic types and enums (fixed width, little-endian),
// std::string, std::vector, std::map, std::unordered_map, std::optional,
// std::pair and std::variant of storable types (a variant stores the
// alternative's index first: append alternatives, never reorder them).
// With <weft/persistence/json_codec.hpp> included (opt-in: it brings
// nlohmann-json), every type nlohmann-json converts through ADL
// to_json/from_json is storable too, as CBOR. A struct lists its fields
// with WEFT_FIELDS (stored in that order; add fields at the end and bump the
// schema version, see persistent_options):
//
//     struct deposited { std::int64_t amount; std::string memo; WEFT_FIELDS(amount, memo) };
//
// Specialize codec<T> for anything else:
//
//     template <> struct weft::persistence::codec<money> {
//       static void encode(const money& m, byte_writer& out) { out.write(m.cents); }
//       static money decode(byte_reader& in) { return money{in.read<std::int64_t>()}; }
//     };
//
// A codec does not record the type: the event's manifest and
// schema_version do (make_event below), so that an upcaster can map an old
// (manifest, schema_version) to today's type before decoding.

#include <weft/persistence/event.hpp>
#include <weft/persistence/status.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace weft::persistence {

template <class T>
struct codec;

class byte_writer {
 public:
  explicit byte_writer(bytes& out) : out_(out) {}

  void write_bytes(std::span<const std::byte> data) {
    if (data.empty()) return;
    // resize + memcpy rather than insert: GCC 12 reports a false
    // -Wstringop-overflow for insert into a vector it proved empty.
    const std::size_t at = out_.size();
    out_.resize(at + data.size());
    std::memcpy(out_.data() + at, data.data(), data.size());
  }

  // LEB128: 7 bits per byte, high bit set on all but the last.
  void write_varint(std::uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<std::byte>(value | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<std::byte>(value));
  }

  template <class T>
  void write(const T& value) {
    codec<T>::encode(value, *this);
  }

 private:
  bytes& out_;
};

class byte_reader {
 public:
  explicit byte_reader(std::span<const std::byte> data) : data_(data) {}

  std::span<const std::byte> read_bytes(std::size_t size) {
    if (size > data_.size() - position_) underflow(size);
    auto result = data_.subspan(position_, size);
    position_ += size;
    return result;
  }

  std::uint64_t read_varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto byte = std::to_integer<std::uint64_t>(read_bytes(1)[0]);
      value |= (byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    throw storage_error(storage_errc::corrupt, "codec: a length field is longer than 10 bytes");
  }

  // A count read from input, checked against what is left so garbage cannot
  // make a decoder reserve gigabytes.
  std::size_t read_count(std::size_t min_element_size = 1) {
    std::uint64_t count = read_varint();
    if (count > remaining() / std::max<std::size_t>(min_element_size, 1)) underflow(count);
    return static_cast<std::size_t>(count);
  }

  template <class T>
  T read() {
    return codec<T>::decode(*this);
  }

  std::size_t remaining() const { return data_.size() - position_; }
  std::size_t position() const { return position_; }

 private:
  [[noreturn]] void underflow(std::uint64_t wanted) const {
    throw storage_error(storage_errc::corrupt,
                        "codec: input ends at byte " + std::to_string(position_) + " of " +
                            std::to_string(data_.size()) + " while " + std::to_string(wanted) +
                            " more were expected; the payload is not of the decoded type");
  }

  std::span<const std::byte> data_;
  std::size_t position_ = 0;
};

template <class T>
concept storable = requires(const T& value, byte_writer& out, byte_reader& in) {
  codec<T>::encode(value, out);
  { codec<T>::decode(in) } -> std::same_as<T>;
};

namespace detail {

// A codec whose whole payload is stored in another format (json_codec.hpp's
// CBOR): encode()/decode() below then use its to_payload/from_payload.
template <class T>
concept payload_codec = requires { codec<T>::stored_as_payload; };

}  // namespace detail

template <class T>
requires std::is_arithmetic_v<T> || std::is_enum_v<T>
struct codec<T> {
  static void encode(const T& value, byte_writer& out) {
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), &value, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw.begin(), raw.end());
    out.write_bytes(raw);
  }
  static T decode(byte_reader& in) {
    std::array<std::byte, sizeof(T)> raw;
    auto data = in.read_bytes(sizeof(T));
    std::memcpy(raw.data(), data.data(), sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw.begin(), raw.end());
    T value;
    std::memcpy(&value, raw.data(), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      if (raw[0] != std::byte{0} && raw[0] != std::byte{1}) {
        throw storage_error(storage_errc::corrupt, "codec: a bool is neither 0 nor 1");
      }
    }
    return value;
  }
};

template <>
struct codec<std::string> {
  static void encode(const std::string& value, byte_writer& out) {
    out.write_varint(value.size());
    out.write_bytes(as_bytes(value));
  }
  static std::string decode(byte_reader& in) {
    auto data = in.read_bytes(in.read_count());
    return std::string(as_string_view(data));
  }
};

template <storable T, class Allocator>
struct codec<std::vector<T, Allocator>> {
  static void encode(const std::vector<T, Allocator>& value, byte_writer& out) {
    out.write_varint(value.size());
    for (const T& element : value) out.write(element);
  }
  static std::vector<T, Allocator> decode(byte_reader& in) {
    std::size_t count = in.read_count();
    std::vector<T, Allocator> value;
    value.reserve(count);
    for (std::size_t i = 0; i < count; ++i) value.push_back(in.read<T>());
    return value;
  }
};

template <storable First, storable Second>
struct codec<std::pair<First, Second>> {
  static void encode(const std::pair<First, Second>& value, byte_writer& out) {
    out.write(value.first);
    out.write(value.second);
  }
  static std::pair<First, Second> decode(byte_reader& in) {
    First first = in.read<First>();
    return {std::move(first), in.read<Second>()};
  }
};

template <storable T>
struct codec<std::optional<T>> {
  static void encode(const std::optional<T>& value, byte_writer& out) {
    out.write(value.has_value());
    if (value) out.write(*value);
  }
  static std::optional<T> decode(byte_reader& in) {
    if (!in.read<bool>()) return std::nullopt;
    return in.read<T>();
  }
};

namespace detail {
template <class Map>
struct map_codec {
  using key_type = std::remove_const_t<typename Map::key_type>;
  using mapped_type = typename Map::mapped_type;
  static void encode(const Map& value, byte_writer& out) {
    out.write_varint(value.size());
    for (const auto& [key, mapped] : value) {
      out.write(key);
      out.write(mapped);
    }
  }
  static Map decode(byte_reader& in) {
    std::size_t count = in.read_count();
    Map value;
    for (std::size_t i = 0; i < count; ++i) {
      key_type key = in.read<key_type>();
      value.insert_or_assign(std::move(key), in.read<mapped_type>());
    }
    return value;
  }
};
}  // namespace detail

template <storable Key, storable Value, class Compare, class Allocator>
struct codec<std::map<Key, Value, Compare, Allocator>>
    : detail::map_codec<std::map<Key, Value, Compare, Allocator>> {};

template <storable Key, storable Value, class Hash, class Equal, class Allocator>
struct codec<std::unordered_map<Key, Value, Hash, Equal, Allocator>>
    : detail::map_codec<std::unordered_map<Key, Value, Hash, Equal, Allocator>> {};

// Types that list their fields with WEFT_FIELDS.
template <class T>
  requires requires(T& t, const T& ct) {
    t.weft_fields();
    ct.weft_fields();
  } && std::default_initializable<T>
struct codec<T> {
  static void encode(const T& value, byte_writer& out) {
    std::apply([&](const auto&... field) { (out.write(field), ...); }, value.weft_fields());
  }
  static T decode(byte_reader& in) {
    T value{};
    std::apply([&](auto&... field) { ((field = in.read<std::remove_cvref_t<decltype(field)>>()), ...); },
               value.weft_fields());
    return value;
  }
};

template <storable... Ts>
struct codec<std::variant<Ts...>> {
  static void encode(const std::variant<Ts...>& value, byte_writer& out) {
    out.write_varint(value.index());
    std::visit([&](const auto& alternative) { out.write(alternative); }, value);
  }
  static std::variant<Ts...> decode(byte_reader& in) {
    const std::uint64_t index = in.read_varint();
    if (index >= sizeof...(Ts)) {
      throw storage_error(storage_errc::corrupt, "codec: a variant's index " + std::to_string(index) +
                                                     " is beyond its " + std::to_string(sizeof...(Ts)) +
                                                     " alternatives; the payload is not of the decoded type");
    }
    return decode_at(in, static_cast<std::size_t>(index), std::index_sequence_for<Ts...>{});
  }

 private:
  template <std::size_t... I>
  static std::variant<Ts...> decode_at(byte_reader& in, std::size_t index, std::index_sequence<I...>) {
    std::optional<std::variant<Ts...>> out;
    ((index == I ? (out.emplace(std::in_place_index<I>, in.read<Ts>()), true) : false) || ...);
    return std::move(*out);
  }
};

// -- whole payloads ----------------------------------------------------------

template <storable T>
bytes encode(const T& value) {
  bytes out;
  if constexpr (detail::payload_codec<T>) {
    out = codec<T>::to_payload(value);
  } else {
    byte_writer writer(out);
    writer.write(value);
  }
  return out;
}

// Throws storage_error (corrupt) if data is not exactly one encoded T.
template <storable T>
T decode(std::span<const std::byte> data) {
  if constexpr (detail::payload_codec<T>) {
    return codec<T>::from_payload(data);
  } else {
    byte_reader reader(data);
    T value = reader.read<T>();
    if (reader.remaining() != 0) {
      throw storage_error(storage_errc::corrupt,
                          "codec: " + std::to_string(reader.remaining()) +
                              " bytes are left over after decoding; the payload is not of the "
                              "decoded type");
    }
    return value;
  }
}

template <storable T>
persistent_event make_event(std::uint64_t sequence_nr, const T& value, std::string manifest,
                            std::uint32_t schema_version = 1) {
  return {sequence_nr, std::move(manifest), schema_version, encode(value)};
}

}  // namespace weft::persistence

// Inside a struct: makes it storable (codec.hpp) by storing these fields in
// this order. The struct stays an aggregate.
#define WEFT_FIELDS(...)                                   \
  auto weft_fields() { return std::tie(__VA_ARGS__); }     \
  auto weft_fields() const { return std::tie(__VA_ARGS__); }
