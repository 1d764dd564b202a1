package server

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Open refuses a rate that is not a finite number (ErrInvalidOptions,
// naming it): with NaN every request after a client's first would be
// refused forever.
func TestOpenRejectsNonFiniteRates(t *testing.T) {
	for _, o := range []Options{
		{RateLimit: math.NaN()}, {AnonRateLimit: math.NaN()},
		{RateLimit: math.Inf(1)}, {AnonRateLimit: math.Inf(-1)},
	} {
		o.DataDir = t.TempDir()
		s, err := Open(&o)
		if err == nil {
			s.Close()
			t.Fatalf("Open(RateLimit %v, AnonRateLimit %v) succeeded", o.RateLimit, o.AnonRateLimit)
		}
		name := "RateLimit"
		if o.RateLimit == 0 {
			name = "AnonRateLimit"
		}
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), name) {
			t.Errorf("RateLimit %v, AnonRateLimit %v: %v", o.RateLimit, o.AnonRateLimit, err)
		}
	}
	// Finite ones, negative ones included, still open.
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: -1, AnonRateLimit: 0.5})
	ts.must(200, "GET", "/v1/markets", "", "")
}
