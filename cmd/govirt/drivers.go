package main

// The drivers the binary offers; each registers itself with the api.
import (
	_ "github.com/govirt/govirt/api/native"
	_ "github.com/govirt/govirt/api/remote"
	_ "github.com/govirt/govirt/api/testdriver"
)
