// The SDK's binary surface. libmodelslim_sdk is compiled with -fvisibility=hidden, so only what is marked
// MODELSLIM_SDK_API is exported: the classes and free functions declared in these headers. Everything else
// (helpers in sdk/src, template instances of LibTorch, yaml-cpp, nlohmann-json) stays inside the library.
//
// Every polymorphic SDK class and every exception type is exported AND has an out-of-line key function (its
// destructor, defined in sdk/src), so its vtable and typeinfo live once, in the SDK library: dynamic_cast to
// an SDK interface and `catch (const modelslim::Error&)` work the same in the host and in every plugin. On
// ELF, exporting and importing are the same attribute, so plugins see the same macro.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define MODELSLIM_SDK_API __attribute__((visibility("default")))
#else
#define MODELSLIM_SDK_API
#endif
