package engine

import "errors"

// Sentinel errors of the state machine and the pipeline. Book rejections
// come through as the book package's sentinels (book.ErrWouldCross, ...).
var (
	ErrInvalidCommand    = errors.New("engine: invalid command")
	ErrInvalidName       = errors.New("engine: invalid name")
	ErrDuplicateName     = errors.New("engine: name already in use")
	ErrInvalidSpec       = errors.New("engine: invalid market spec")
	ErrInvalidAmount     = errors.New("engine: amount must be positive")
	ErrUnknownAsset      = errors.New("engine: unknown asset")
	ErrUnknownMarket     = errors.New("engine: unknown market")
	ErrUnknownAccount    = errors.New("engine: unknown account")
	ErrUnknownOrder      = errors.New("engine: unknown order")
	ErrMarketHalted      = errors.New("engine: market halted")
	ErrInsufficientFunds = errors.New("engine: insufficient funds")
	ErrOverflow          = errors.New("engine: amount overflows int64")
	ErrRefConflict       = errors.New("engine: reference reused for a different command")
	ErrStopNeedsLimit    = errors.New("engine: stop-market buy needs a protection price or a quote budget")
	ErrClosed            = errors.New("engine: closed")
	ErrFull              = errors.New("engine: ingress queue full")
	ErrJournal           = errors.New("engine: journal failed; no further commands are acknowledged")
)
