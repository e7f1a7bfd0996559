// Marks functions that must compile for both the CPU and (later) the CUDA core.
// MATH lives in small headers that include this; glue lives elsewhere.
#pragma once
#if defined(__CUDACC__)
#define CONDIFF_HD __host__ __device__ inline
#else
#define CONDIFF_HD inline
#endif
