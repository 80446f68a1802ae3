// expect: conversion from .*ref<protocol<int\(get\), void\(add\)>>.* to non-scalar type .*ref<protocol<int\(get\), void\(add\), .*\(name\)>>
#include "common.hpp"
struct name {};
using named = weft::extend<counter, std::string(name)>;
void f(const weft::ref<counter>& c) { weft::ref<named> n = c; }
