package platform

import (
	"fmt"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// Registry holds the Channel of every platform Switchboard speaks. It is the
// one place where the platforms are listed: built once, at start.
type Registry struct {
	all []Channel
	by  map[schematype.Platform]Channel
}

// NewRegistry registers channels; a platform registered twice is a bug.
func NewRegistry(channels ...Channel) *Registry {
	r := &Registry{by: map[schematype.Platform]Channel{}}
	for _, ch := range channels {
		if _, dup := r.by[ch.Platform()]; dup {
			panic(fmt.Sprintf("platform %s registered twice", ch.Platform()))
		}
		r.by[ch.Platform()] = ch
		r.all = append(r.all, ch)
	}
	return r
}

// Get returns the platform's channel.
func (r *Registry) Get(p schematype.Platform) (Channel, error) {
	ch, ok := r.by[p]
	if !ok {
		return nil, fmt.Errorf("platform %s is not supported by this server", p)
	}
	return ch, nil
}

// ByName returns the channel of a platform by its lower-case name, as in
// URLs and errors.
func (r *Registry) ByName(name string) (Channel, bool) {
	for _, ch := range r.all {
		if Name(ch.Platform()) == name {
			return ch, true
		}
	}
	return nil, false
}

// All returns every channel, in registration order.
func (r *Registry) All() []Channel { return r.all }
