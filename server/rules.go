package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/instant-social-trading/ist/engine"
)

// Matching rules across releases.
//
// A command's result depends on the rules of the release that applied it
// (engine.RulesVersion), and the log keeps only the command: replayed by
// a release whose rules differ, it can give other fills, balances and
// refusals than the ones its client was answered. So the store records
// the rules the log's newest commands were applied under (keyRules:
// version, and the sequence number after which every command was applied
// under it), and Open replays no command applied under other rules. A
// clean stop of the earlier release ends with a snapshot that covers the
// whole log, so an upgrade from it replays nothing; a crash of the earlier
// release, or a backup it wrote, leaves commands after the newest
// snapshot that only it can replay.

// keyRules holds the rules version (u32, big endian) the log's commands
// after a sequence number (u64, big endian) were applied under. Absent:
// a new data directory, or one an earlier release wrote.
var keyRules = []byte("engine/rules")

// ErrRulesChanged is the error of Open when recovering the log would
// replay commands that were applied under other matching rules than this
// release's (engine.RulesVersion): their replay could give other results
// than their clients were answered. Start the release that wrote them on
// the data directory and stop it cleanly (its final snapshot covers the
// whole log), then start this one; or see Options.AcceptRuleChange.
var ErrRulesChanged = errors.New("server: the log holds commands applied under other matching rules than this release's")

// rulesRec is the stored rules record.
type rulesRec struct {
	version uint32
	after   uint64 // every command after it was applied under version
	ok      bool   // recorded
}

func (st *store) rules() (rulesRec, error) {
	v, err := st.get(keyRules)
	if err != nil || v == nil {
		return rulesRec{}, err
	}
	if len(v) != 12 {
		return rulesRec{}, fmt.Errorf("server: metadata store: rules record of %d bytes", len(v))
	}
	return rulesRec{binary.BigEndian.Uint32(v), binary.BigEndian.Uint64(v[4:]), true}, nil
}

func (st *store) setRules(r rulesRec) error {
	return st.set(keyRules, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, r.version), r.after))
}

// checkReplayRules returns nil if replaying the commands after snap up
// to last applies each under the rules it was applied under: none are
// replayed, or all follow the record of this release's rules.
func checkReplayRules(r rulesRec, snap, last uint64) error {
	if last <= snap || (r.ok && r.version == engine.RulesVersion && snap >= r.after) {
		return nil
	}
	by := "an earlier release (one that records no rules version)"
	switch {
	case r.ok && r.version != engine.RulesVersion:
		by = fmt.Sprintf("a release of rules version %d", r.version)
	case r.ok:
		by = fmt.Sprintf("an earlier release up to command %d", r.after)
	}
	return fmt.Errorf("%w (version %d): the recovery replays commands %d to %d, written by %s; "+
		"replayed here they could give other fills and balances than were answered. Start that release on this data "+
		"directory and stop it cleanly (SIGTERM: its final snapshot covers the whole log), then start this one; "+
		"or replay them under this release's rules with Options.AcceptRuleChange (istd --accept-rule-change)",
		ErrRulesChanged, engine.RulesVersion, snap+1, last, by)
}
