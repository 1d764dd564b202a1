package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/instant-social-trading/ist/wal"
	"github.com/rs/zerolog"
)

// verify runs `istd verify`: it checks that the command log of a data
// directory replays to the states its snapshots hold (wal.Log.Verify),
// for a stopped istd's directory or a backup. It changes nothing the
// engine reads: a torn last entry is reported, not dropped.
func verify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("istd verify", flag.ContinueOnError)
	usage(fs, `usage: istd verify [flags]
checks that the command log of a stopped istd's data directory, or of a
backup, replays to the states its snapshots hold

flags:
`)
	dataDir := fs.String("data-dir", env("IST_DATA_DIR", "./data"), "data directory or backup (IST_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("verify: unexpected argument %q", fs.Arg(0))
	}
	if err := checkData("verify", "nothing to verify", *dataDir, "log"); err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.WarnLevel)
	l, err := wal.Open(*dataDir, &wal.Options{Logger: &log})
	if err != nil {
		return fmt.Errorf("verify: %w (an istd running on the directory holds it: stop it, or verify a backup, istd backup --to DIR)", err)
	}
	st, err := l.Verify()
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	from := "the log's first command"
	if st.FromSnapshot != 0 {
		from = fmt.Sprintf("snapshot %d", st.FromSnapshot)
	}
	fmt.Fprintf(stdout, "verify: replayed %d commands from %s to %d in %s; snapshots the replay reached identically: %v\n",
		st.Replayed, from, st.LastSeq, st.Time.Round(1e6), st.Matched)
	if st.TornTail {
		fmt.Fprintln(stdout, "verify: the log ends in a torn entry, a write never acknowledged; istd drops it when it starts")
	}
	if errors.Is(err, wal.ErrMismatch) {
		return fmt.Errorf("verify: %w (a log an earlier release of other matching rules wrote, one istd refuses to replay, "+
			"verifies with that release; otherwise keep the directory and report it)", err)
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintln(stdout, "verify: ok")
	return nil
}
