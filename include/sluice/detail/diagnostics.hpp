// Compile errors that stop at the first line and name the culprit (after Hana's dispatch_if
// and stdexec's __diagnostics.hpp).
//
// A static_assert message cannot be computed in C++20, so a diagnostic that must name a
// column, a row type or a field is a class template that is declared and never defined: the
// error is the use of that incomplete type, and the compiler prints the type, with its
// template arguments, on the error line itself:
//
//   error: invalid use of incomplete type 'struct sluice::diagnostics::cannot_resolve_column<
//     sluice::fixed_string<10>{"evnt_type"}, Event, sluice::diagnostics::given_input_columns<
//     sluice::fixed_string<9>{"event_id"}, ...> >'
//
// After raising one, the caller carries on with a harmless stand-in (the row unchanged, a
// column of a fitting type) so that nothing else fails: one error, not a cascade.
#pragma once
#include <type_traits>

#include "fixed_string.hpp"

namespace sluice::diagnostics {

// The columns of a row, as they appear in a diagnostic.
template <fixed_string... Names>
struct given_input_columns {};

// Spark's "cannot resolve 'evnt_type' given input columns [...]".
template <fixed_string Column, class Row, class InputColumns>
struct cannot_resolve_column;

// sl::as<T>(): the field of T that the row does not have (or cannot convert).
template <class Target, fixed_string Field, class Row, class InputColumns>
struct as_target_field_not_in_row_or_not_convertible;

// A member pointer used as a column: its struct must be described with BOOST_DESCRIBE_STRUCT
// and the member listed there (a member pointer argument carries only its type, so the name
// is that of the one described public member of that type).
template <class Struct, class MemberType>
struct member_pointer_column_needs_a_struct_described_with_BOOST_DESCRIBE_STRUCT;
template <class Struct, class MemberType>
struct member_pointer_column_is_not_among_the_described_members;
// Several described members have the member's type: a function argument &S::m only says
// "some M of S". Name the column at compile time instead: sl::col<&S::m> or "m"_c.
template <class Struct, class MemberType, class Candidates>
struct member_pointer_column_is_ambiguous_write_sl_col_of_the_member_pointer;
template <fixed_string... Names>
struct candidates {};

// Raises the diagnostic D: exactly one error, whose line names D. The error is in a type (not
// in an expression), so raise() may be called in a constant expression without a second error.
template <class D>
struct report {
  using type = decltype(sizeof(D));
};
template <class D>
constexpr void raise() {
  using diagnostic [[maybe_unused]] = typename report<D>::type;
}

}  // namespace sluice::diagnostics
