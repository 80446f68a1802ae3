// expect: conversion from .*expected<int,\[\.\.\.\]>.* to non-scalar type .*expected<std::__cxx11::basic_string<char>,\[\.\.\.\]>
#include "common.hpp"
void f(weft::context& self, const weft::ref<counter>& c) { weft::expected<std::string> n = self.ask(c, get{}); }
