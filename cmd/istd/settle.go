package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// defaultSettleInterval is how often istd settles copy-trading relations
// (profit share and stop-losses) unless --settle-interval says otherwise.
const defaultSettleInterval = time.Hour

// settleFlag is --settle-interval (IST_SETTLE_INTERVAL).
type settleFlag struct {
	every  *time.Duration
	envErr error
	fs     *flag.FlagSet
}

// addSettleFlag registers --settle-interval on fs, its default taken from
// IST_SETTLE_INTERVAL if set.
func addSettleFlag(fs *flag.FlagSet) *settleFlag {
	f := &settleFlag{fs: fs}
	def := defaultSettleInterval
	if v, ok := os.LookupEnv("IST_SETTLE_INTERVAL"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			f.envErr = fmt.Errorf("IST_SETTLE_INTERVAL %q: want a duration ≥ 0 such as 1h or 15m", v)
		} else {
			def = d
		}
	}
	f.every = fs.Duration("settle-interval", def, "how often to settle copy-trading profit share and stop-losses; 0 disables (IST_SETTLE_INTERVAL)")
	return f
}

// interval returns the parsed interval, or the error of a bad environment
// variable that no flag overrode.
func (f *settleFlag) interval() (time.Duration, error) {
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "settle-interval" })
	if f.envErr != nil && !set {
		return 0, f.envErr
	}
	if *f.every < 0 {
		return 0, fmt.Errorf("--settle-interval must be ≥ 0")
	}
	return *f.every, nil
}

// startSettle submits a settlement (server.Server.Settle) every interval
// until the returned stop function is called; interval 0 does nothing.
func startSettle(s *server.Server, every time.Duration, log *zerolog.Logger) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.Settle(ctx); err != nil && ctx.Err() == nil {
				log.Error().Err(err).Msg("copy-trading settlement")
			} else if err == nil {
				log.Debug().Msg("copy-trading settled")
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
