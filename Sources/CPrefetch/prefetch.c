// The module is header-only (include/prefetch.h); SwiftPM wants a source file in every C target.
#include "prefetch.h"
