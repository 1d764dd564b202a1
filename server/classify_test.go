package server

import (
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// The engine's refusals of rules added later answer their own codes,
// wrapped or not (the engine's and istd's own wrapping), never a 5xx.
func TestClassifyEngineLimits(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{engine.ErrTooManyOpenOrders, 400, "too_many_open_orders"},
		{engine.ErrPriceOutOfBand, 400, "price_out_of_band"},
		{engine.ErrTooManyFollows, 409, "too_many_follows"},
		{engine.ErrTooManyFollowers, 409, "too_many_followers"},
		{engine.ErrAlreadyFollowing, 409, "already_following"},
	} {
		for _, err := range []error{c.err, fmt.Errorf("%w: details", c.err)} {
			if got := classify(err); got.status != c.status || got.code != c.code {
				t.Errorf("%v: %d %s, want %d %s", err, got.status, got.code, c.status, c.code)
			}
		}
	}
}
