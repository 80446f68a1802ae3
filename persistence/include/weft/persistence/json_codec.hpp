#pragma once

// Opt-in: store types that nlohmann-json can convert (through ADL
// to_json/from_json, e.g. NLOHMANN_DEFINE_TYPE_INTRUSIVE) as CBOR.
//
//   #include <weft/persistence/json_codec.hpp>   // and link weft::json
//
//   struct order_placed { std::string id; int quantity; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id, quantity)
//   // order_placed is now storable (codec.hpp): events, state, snapshots
//
// A payload of such a type is plain CBOR, readable by any CBOR tool and
// shown as JSON by weft-journal-dump; nested inside another stored value it
// carries a length prefix. Only translation units that include this header
// pull nlohmann-json in; the rest of weft::persistence does not need it.
//
// Decoding never trusts the bytes: they must be exactly one well-formed
// CBOR item nested at most 64 deep (checked without recursion), else the
// decode fails with storage_errc::corrupt, as does any nlohmann error.

#include <weft/persistence/codec.hpp>
#include <weft/persistence/status.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

namespace weft::persistence {

namespace detail {

// True for types with to_json/from_json found by ADL, which is what the
// NLOHMANN_DEFINE_TYPE_* macros generate. Builtins do not qualify: ADL
// finds nlohmann's own converters only for its own types.
template <class T>
concept json_convertible = std::is_class_v<T> && std::default_initializable<T> &&
    requires(nlohmann::json& j, const nlohmann::json& cj, const T& value, T& target) {
  to_json(j, value);
  from_json(cj, target);
};

// Whether `data` is exactly one well-formed CBOR item, at most `max_depth`
// containers deep (require_container: and a map or an array). Iterative,
// never throws. Defined in the library (cbor_check.cpp).
bool cbor_well_formed(std::span<const std::byte> data, std::size_t max_depth, bool require_container) noexcept;

inline constexpr std::size_t cbor_max_depth = 64;

}  // namespace detail

template <detail::json_convertible T>
struct codec<T> {
  static constexpr bool stored_as_payload = true;

  static bytes to_payload(const T& value) {
    nlohmann::json j;
    to_json(j, value);
    auto cbor = nlohmann::json::to_cbor(j);
    auto raw = std::as_bytes(std::span(cbor));
    return bytes(raw.begin(), raw.end());
  }
  static T from_payload(std::span<const std::byte> data) {
    if (!detail::cbor_well_formed(data, detail::cbor_max_depth, false)) {
      throw storage_error(storage_errc::corrupt, "codec: the payload is not one well-formed CBOR item (at most " +
                                                     std::to_string(detail::cbor_max_depth) + " levels deep)");
    }
    try {
      auto raw = reinterpret_cast<const std::uint8_t*>(data.data());
      nlohmann::json j = nlohmann::json::from_cbor(raw, raw + data.size(), true, true,
                                                   nlohmann::json::cbor_tag_handler_t::ignore);
      T value{};
      from_json(j, value);
      return value;
    } catch (const nlohmann::json::exception& e) {
      throw storage_error(storage_errc::corrupt,
                          std::string("codec: the CBOR payload does not match the type: ") + e.what());
    }
  }
  static void encode(const T& value, byte_writer& out) {
    bytes cbor = to_payload(value);
    out.write_varint(cbor.size());
    out.write_bytes(cbor);
  }
  static T decode(byte_reader& in) { return from_payload(in.read_bytes(in.read_count())); }
};

}  // namespace weft::persistence
