//go:build !linux

package main

import "os"

// hideInput cannot turn off echo here; input stays visible.
func hideInput(*os.File) func() { return func() {} }
