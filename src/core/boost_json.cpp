// Boost.JSON, header-only: its sources are compiled once, here (Debian ships no separate
// library for it in libboost1.81-dev).
#include <boost/json/src.hpp>
