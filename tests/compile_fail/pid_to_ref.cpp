// expect: conversion from .*const weft::pid.* to non-scalar type .*weft::ref<weft::protocol<int\(get\), void\(add\)> >
#include "common.hpp"
void f(const weft::pid& p) { weft::ref<counter> c = p; }
