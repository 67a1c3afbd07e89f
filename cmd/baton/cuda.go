//go:build cuda

// The cuda build's devices: registers the CUDA driver, so that --devices takes cuda:N, cuda:N/K and cuda:N/[S0,S1,…].

package main

import _ "baton/runtime/device/cuda"
