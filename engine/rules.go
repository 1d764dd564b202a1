package engine

// RulesVersion numbers the rules by which Apply turns commands into
// events and state: matching, fees, reservations, refs, copy-trading
// sizing and settlement. It is raised by every change after which a log
// written under an earlier version can replay to other events or state
// than that version gave, and never otherwise. A log only replays
// faithfully under the rules it was written under: a program that keeps
// a log across releases records the version its commands were applied
// under and replays none under another (istd refuses to start, see
// docs/operations.md, "Upgrade").
//
// 1: the first numbered rules (a data directory without the record was
// written by an earlier release, whose rules differ: fixed_quote budget
// buys, the stop-loss boundary, amends above MaxQty, deposit and
// withdrawal refs, profit share rates, among others).
//
// 2: copy-trading: a leader left with less than a lot of a base after a
// sell is flat, so its followers sell everything (with 1, only what the
// leader's fraction said, leaving dust when the leader kept a sub-lot
// remainder); the sale that closes a relation at market (unfollow,
// stop-loss) sells to the best bids, its leader's included (with 1, it
// was in the leader's copy group and expired at a leader's best bid).
//
// 3: an iceberg has at most book.MaxIcebergParts slices (its quantity,
// and an amend's raised one, at most 100 times its display quantity;
// else ErrInvalidDisplay), where version 2 took any.
//
// 4: copy relations are bounded (MaxOpenFollows open and MaxFollowsEver
// in all per follower, MaxFollowers open per leader), where version 3
// opened any number.
//
// 5: a cancel-all cancels the account's orders oldest first (version 4:
// in the book's order, bids best first, then asks, then pending stops),
// from the account's list of live orders instead of a walk of the whole
// book (0.2 s for a book of a million orders, whatever the account had).
//
// 6: a skipped mirror (EvCopySkipped) reports in Remaining the size the
// relation wanted, before a buy was shrunk to what its wallet can pay:
// version 5 gave the shrunk size, often 0, for insufficient_funds (and
// for a shrunk mirror the book refused, rejected).
const RulesVersion = 6
