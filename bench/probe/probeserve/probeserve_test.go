package probeserve

import "testing"

func TestCheckAddr(t *testing.T) {
	for _, a := range []string{"", "127.0.0.1", "127.0.0.1:0", ":0"} {
		if CheckAddr(a) == nil {
			t.Errorf("CheckAddr(%q) accepted", a)
		}
	}
	for _, a := range []string{"127.0.0.1:9101", ":9101", "localhost:9101"} {
		if err := CheckAddr(a); err != nil {
			t.Errorf("CheckAddr(%q): %v", a, err)
		}
	}
}
