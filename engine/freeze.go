package engine

import (
	"slices"

	"github.com/instant-social-trading/ist/book"
)

// setAccountFrozen applies CmdSetAccountFrozen: the account's flag, and
// when it becomes frozen, the cancel of every live order it has. The
// result's ID is the number of orders cancelled.
func (s *State) setAccountFrozen(cmd *Command, dst []Event) (result, []Event) {
	if !s.userAccount(cmd.Account) {
		return result{Err: ErrUnknownAccount}, dst
	}
	a := s.accounts.at(cmd.Account)
	if a.frozen == cmd.Frozen {
		return result{}, dst // already so: nothing changes
	}
	a.frozen = cmd.Frozen
	if !cmd.Frozen {
		return result{}, dst
	}
	ids := s.liveOrdersOf(cmd.Account)
	for _, id := range ids {
		m := s.markets[s.orders.get(id).market-1]
		bevs, _ := s.bookCancel(m, id) // live: in its book (Check)
		for i := range bevs {
			if bevs[i].Kind == book.EvCancelled {
				bevs[i].Reason = book.ReasonAccountFrozen
			}
		}
		s.bevs = bevs
		dst = s.settle(m, bevs, dst)
	}
	return result{ID: uint64(len(ids))}, dst
}

// liveOrdersOf returns the ids of account's live orders (resting orders
// and pending stops) in every market, in id order, from the account's
// list of them: a rare command's, allocating here is fine.
func (s *State) liveOrdersOf(account uint64) []uint64 {
	var ids []uint64
	for i := s.accounts.at(account).orders - 1; i >= 0; i = s.orders.link(i).next {
		ids = append(ids, s.orders.at(i).id)
	}
	slices.Sort(ids) // the list is newest first; the id is the order's age
	return ids
}

// isFrozen reports whether id is an account that is frozen (false for an
// id that names no account).
func (s *State) isFrozen(id uint64) bool {
	return s.validAccount(id) && s.accounts.at(id).frozen
}
