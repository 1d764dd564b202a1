package main

import (
	"context"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// shutdownTimeout bounds server.Server.Shutdown. The server bounds its
// drain of requests in flight by it (and by its RequestTimeout), and
// gives the final snapshot time of its own if the drain used it all. A
// variable for tests.
var shutdownTimeout = 30 * time.Second

// shutdown stops s within shutdownTimeout, logs how it went and returns
// the error istd exits with.
func shutdown(s *server.Server, log *zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		log.Error().Err(err).Msg("stopped, with errors")
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
