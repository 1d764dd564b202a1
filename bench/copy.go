package bench

import (
	"fmt"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// CopyConfig configures CopyBench.
type CopyConfig struct {
	Followers int // relations on the one leader
	Rounds    int // leader round trips (a buy fill and a sell fill each)
}

// CopyResult is what CopyBench measured.
type CopyResult struct {
	Followers int
	// LeaderFills is the number of leader fills mirrored; MirroredFills
	// the mirrored orders that traded.
	LeaderFills, MirroredFills int
	// Elapsed is the time spent in State.Apply for the leader's commands,
	// Baseline the time of the same commands on a state without followers.
	Elapsed, Baseline time.Duration
	// NsPerFollower is (Elapsed − Baseline) per leader fill per follower:
	// the matcher's cost of mirroring one fill to one follower.
	NsPerFollower float64
	// NsPerFill is Elapsed per leader fill, mirrors included.
	NsPerFill float64
}

// CopyBench measures copy-trading mirroring in the matcher: one leader
// with cfg.Followers proportional relations buys and then sells (going
// flat) against a deep book, cfg.Rounds times, so that every leader fill
// is mirrored to every follower as an IOC order that trades. The same
// leader commands run on a state without followers as the baseline, in
// the same run.
func CopyBench(cfg CopyConfig) (CopyResult, error) {
	// The maker's book holds 10M lots a side; a round takes the leader's
	// 1,000 and about 10 per follower.
	if cfg.Followers < 1 || cfg.Rounds < 1 || cfg.Rounds*(1000+15*cfg.Followers) > 10_000_000 {
		return CopyResult{}, fmt.Errorf("bench: copy needs followers ≥ 1 and 1 ≤ rounds × (1000 + 15 × followers) ≤ 10M")
	}
	res := CopyResult{Followers: cfg.Followers}
	with, err := copyState(cfg.Followers)
	if err != nil {
		return res, err
	}
	without, err := copyState(0)
	if err != nil {
		return res, err
	}
	var evs []engine.Event
	for _, run := range []struct {
		s       *copySetup
		elapsed *time.Duration
	}{{without, &res.Baseline}, {with, &res.Elapsed}} {
		fills, mirrored := 0, 0
		for range cfg.Rounds {
			for _, side := range []book.Side{book.Buy, book.Sell} {
				cmd := run.s.leaderOrder(side)
				t0 := time.Now()
				var out engine.Outcome
				out, evs = run.s.st.Apply(&cmd, evs[:0])
				*run.elapsed += time.Since(t0)
				if out.Err != nil {
					return res, fmt.Errorf("bench: leader %v: %w", side, out.Err)
				}
				for i := range evs {
					if evs[i].Kind == book.EvTrade {
						if evs[i].Relation != 0 {
							mirrored++
						} else if evs[i].Owner == copyLeader {
							fills++
						}
					}
				}
			}
		}
		if run.s == with {
			res.LeaderFills, res.MirroredFills = fills, mirrored
			if err := with.st.Check(); err != nil {
				return res, err
			}
		}
	}
	if res.LeaderFills > 0 {
		res.NsPerFill = float64(res.Elapsed.Nanoseconds()) / float64(res.LeaderFills)
		res.NsPerFollower = float64((res.Elapsed - res.Baseline).Nanoseconds()) / float64(res.LeaderFills) / float64(cfg.Followers)
	}
	if res.MirroredFills != res.LeaderFills*cfg.Followers {
		return res, fmt.Errorf("bench: %d mirrored fills for %d leader fills × %d followers", res.MirroredFills, res.LeaderFills, cfg.Followers)
	}
	return res, nil
}

const (
	copyLeader = 1
	copyMaker  = 2
	copyUnit   = 100_000_000 // 1 unit of an asset with 8 decimals
)

type copySetup struct {
	st  *engine.State
	seq uint64
}

func (c *copySetup) apply(cmd engine.Command) (engine.Outcome, error) {
	c.seq++
	cmd.Seq, cmd.Time = c.seq, int64(c.seq)
	out, _ := c.st.Apply(&cmd, nil)
	if out.Err != nil {
		return out, fmt.Errorf("bench: copy setup %v: %w", cmd.Kind, out.Err)
	}
	return out, nil
}

// leaderOrder is the leader's next order: a buy of 1,000 lots (a fifth of
// its quote) taking the maker's ask at 2,001, or a sell of as many into
// the bid at 2,000, which leaves it flat.
func (c *copySetup) leaderOrder(side book.Side) engine.Command {
	c.seq++
	cmd := engine.Command{Kind: engine.CmdPlace, Seq: c.seq, Time: int64(c.seq), Account: copyLeader, Market: 1,
		Order: book.Order{Side: side, Type: book.Limit, TIF: book.IOC, Price: 200_100, Qty: 1000}}
	if side == book.Sell {
		cmd.Order.Price = 200_000
	}
	return cmd
}

// copyState builds ETH-USDT (0.01 ETH lots, 0.01 USDT steps, 10 bps
// fees), a leader with 100,000 USDT, a maker with a deep book on both
// sides, and followers with 1,000 USDT each in a proportional relation.
func copyState(followers int) (*copySetup, error) {
	c := &copySetup{st: engine.NewState()}
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }
	cmds := []engine.Command{
		{Kind: engine.CmdCreateAsset, Name: name("ETH")},
		{Kind: engine.CmdCreateAsset, Name: name("USDT")},
		{Kind: engine.CmdCreateMarket, Name: name("ETH-USDT"), Spec: engine.MarketSpec{Base: 1, Quote: 2,
			BaseScale: 1_000_000, QuoteScale: 10_000, MakerFeeBps: 10, TakerFeeBps: 10,
			Rules: book.Rules{TickSize: 1, LotSize: 1, MaxPrice: 100_000_000, MaxQty: 1_000_000}}},
		{Kind: engine.CmdCreateAccount, Name: name("leader")},
		{Kind: engine.CmdCreateAccount, Name: name("maker")},
		{Kind: engine.CmdDeposit, Account: copyLeader, Asset: 2, Amount: 100_000 * copyUnit},
		{Kind: engine.CmdDeposit, Account: copyMaker, Asset: 2, Amount: 2_000_000_000 * copyUnit},
		{Kind: engine.CmdDeposit, Account: copyMaker, Asset: 1, Amount: 1_000_000 * copyUnit},
		{Kind: engine.CmdSetLeaderProfile, Account: copyLeader},
	}
	// Deep enough for the rounds: each follower buys about a hundredth of
	// what the leader buys, and sells it back.
	for range 10 {
		cmds = append(cmds,
			engine.Command{Kind: engine.CmdPlace, Account: copyMaker, Market: 1, Order: book.Order{Side: book.Sell, Price: 200_100, Qty: 1_000_000}},
			engine.Command{Kind: engine.CmdPlace, Account: copyMaker, Market: 1, Order: book.Order{Side: book.Buy, Price: 200_000, Qty: 1_000_000}})
	}
	for _, cmd := range cmds {
		if _, err := c.apply(cmd); err != nil {
			return nil, err
		}
	}
	for range followers {
		out, err := c.apply(engine.Command{Kind: engine.CmdCreateAccount, Name: name("follower")})
		if err != nil {
			return nil, err
		}
		if _, err := c.apply(engine.Command{Kind: engine.CmdDeposit, Account: out.ID, Asset: 2, Amount: 1000 * copyUnit}); err != nil {
			return nil, err
		}
		if _, err := c.apply(engine.Command{Kind: engine.CmdFollow, Account: out.ID, Asset: 2, Amount: 1000 * copyUnit,
			Copy: engine.CopySpec{Leader: copyLeader, Mode: engine.CopyProportional, Value: engine.ValueOne}}); err != nil {
			return nil, err
		}
	}
	return c, nil
}
