// Package app holds the dispatcher's use cases: accepting writes and
// publishing them as events, routing reads to joined workers, and keeping
// the quorum of workers. Ports call it; adapters implement its interfaces.
package app

import (
	"errors"
	"fmt"
)

// The errors the use cases return; ports map them to API codes in one place.
var (
	// ErrNoWorkers: no worker has joined, so nothing can serve a read.
	ErrNoWorkers = errors.New("no worker has joined the dispatcher; reads are unavailable until one joins")
	// ErrWorkerUnavailable: the chosen worker cannot be reached or said it
	// is unavailable; it is taken out of the quorum at once.
	ErrWorkerUnavailable = errors.New("workers are unavailable")
	// ErrWorkerSlow: the chosen workers did not answer in time. A slow worker
	// is not a dead one: it stays in the quorum.
	ErrWorkerSlow = errors.New("workers did not answer in time")
	// ErrWorkerFailed: a worker answered with an error it should never give
	// (internal, unimplemented: not a worker at that address, ...). Its
	// message stays in the logs; clients see a generic one.
	ErrWorkerFailed = errors.New("workers could not serve the read")
	// ErrWorkerAnswerTooLarge: a worker's answer exceeded the size the
	// dispatcher reads (WORKER_RESPONSE_MAX_BYTES).
	ErrWorkerAnswerTooLarge = errors.New("the answer is too large to return; ask for a smaller page")
	// ErrBadPageToken: a worker refused the page token of a listing.
	ErrBadPageToken = errors.New("invalid page token")
	// ErrInvalid: a request the use case cannot serve as given (a listing
	// with no filter, which validation normally refuses first).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the item does not exist.
	ErrNotFound = errors.New("item not found")
	// ErrUnknownWorker: a heartbeat or leave named a worker that is not a member.
	ErrUnknownWorker = errors.New("unknown worker")
	// ErrRegistryUnavailable: the workers' registry, shared by the
	// dispatchers, cannot be reached, so a join or heartbeat cannot be
	// recorded; the worker retries (another dispatcher, or later).
	ErrRegistryUnavailable = errors.New("the workers' registry is unavailable")
	// ErrFraudulentClient: the acting client is on the fraud list.
	ErrFraudulentClient = errors.New("the client is on the fraud list; the action was refused")
	// ErrPublishUnavailable: the write could not be made durable anywhere.
	ErrPublishUnavailable = errors.New("the event store is unavailable; the write was not accepted")
	// ErrAlreadyExists: an add named an item id that another request
	// (another body) already claimed.
	ErrAlreadyExists = errors.New("the item already exists")
	// ErrClaimUnavailable: the store of claimed item ids cannot be reached,
	// so an add with a client-chosen id cannot be checked and is refused
	// (retryable) rather than accepted and maybe silently dropped.
	ErrClaimUnavailable = errors.New("item ids cannot be checked right now; the write was not accepted, retry it")
)

// ItemExistsError is ErrAlreadyExists for the id a client chose. Its
// message names that id, so clients may read it.
type ItemExistsError struct{ ID string }

func (e *ItemExistsError) Error() string {
	return fmt.Sprintf("item %q already exists (added with another body); choose another id, or send no id to get a new one", e.ID)
}

// ClientMessage is the message clients see.
func (e *ItemExistsError) ClientMessage() string { return e.Error() }

// Is makes the error an ErrAlreadyExists.
func (e *ItemExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// ItemNotFoundError is ErrNotFound for the item a client asked for by id.
// Its message names that item and nothing else, so clients may read it (the
// worker's answer it wraps stays in the logs).
type ItemNotFoundError struct {
	ID    string
	Cause error
}

func (e *ItemNotFoundError) Error() string { return fmt.Sprintf("item %q not found", e.ID) }

// ClientMessage is the message clients see.
func (e *ItemNotFoundError) ClientMessage() string { return e.Error() }

// Is makes the error an ErrNotFound.
func (e *ItemNotFoundError) Is(target error) bool { return target == ErrNotFound }

func (e *ItemNotFoundError) Unwrap() error { return e.Cause }
