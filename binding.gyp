{
  "targets": [
    {
      "target_name": "condiff",
      "sources": [
        "native/binding/addon.cc",
        "native/binding/args.cc",
        "native/binding/codes.cc",
        "native/binding/cpu_block_ops.cc",
        "native/binding/cpu_filter_ops.cc",
        "native/binding/cpu_particle_ops.cc",
        "native/binding/cpu_twist_ops.cc",
        "native/binding/cpu_subspace_ops.cc",
        "native/binding/misc_ops.cc",
        "native/binding/mixture_wrap.cc",
        "native/core/linalg.cc",
        "native/core/mixture.cc",
        "native/core/mixture_score.cc",
        "native/core/mixture_structure.cc",
        "native/core/mixture_structured.cc",
        "native/core/finite.cc",
        "native/core/mixture_vjp.cc",
        "native/core/normals.cc",
        "native/core/particles.cc",
        "native/core/worker_pool.cc",
        "native/core/resampling.cc",
        "native/core/smc_step.cc",
        "native/core/twist.cc",
        "native/core/path_correction.cc",
        "native/core/subspace.cc",
        "native/core/weights.cc"
      ],
      "include_dirs": ["native/core", "native/binding"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: in an environment being torn down (a
      # terminated Worker) a JS error cannot be thrown; node-addon-api then drops it
      # instead of throwing a C++ exception into N-API, which aborts the process.
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-psabi", "-fno-math-errno", "-ffp-contract=off", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
