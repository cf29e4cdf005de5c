package kvm

import (
	"strings"

	"github.com/govirt/govirt/kvm/cpuid"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func cpuidConfig(disable ...string) cpuid.Config { return cpuid.Config{Disable: disable} }
