//go:build cuda

// The cuda build's devices: registers the CUDA driver, so that --devices takes cuda:N and cuda:N/K.

package main

import _ "baton/runtime/device/cuda"
