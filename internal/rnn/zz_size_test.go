package rnn

import (
	"testing"
	"unsafe"
)

func TestZZSize(t *testing.T) { t.Logf("op %d", unsafe.Sizeof(op{})) }
