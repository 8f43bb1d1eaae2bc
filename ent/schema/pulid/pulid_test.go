package pulid_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

func TestIDsArePrefixedSortableAndUnique(t *testing.T) {
	const n = 10000
	seen := make(map[pulid.ID]bool, n)
	prev := pulid.New("msg")
	for range n {
		id := pulid.New("msg")
		if id.Prefix() != "msg" || len(id) != len("msg_")+26 {
			t.Fatalf("malformed id %q", id)
		}
		if id <= prev {
			t.Fatalf("ids not increasing: %q after %q", id, prev)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		prev = id
	}
	if pulid.ID("garbage").Prefix() != "" {
		t.Fatal("an id without a prefix must report none")
	}
}
