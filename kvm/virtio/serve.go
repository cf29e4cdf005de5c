package virtio

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Drain processes every available chain of q with process, which returns
// how many bytes it wrote into the chain's writable part. Notifications
// are suppressed while draining and re-enabled before the final check, and
// one interrupt covers the batch. An error wrapping ErrQueue from the ring
// or from process puts the device into DEVICE_NEEDS_RESET and is returned:
// the caller must stop processing. Precondition: called from the
// goroutine that owns q.
func (a *Activation) Drain(q *Queue, process func(c *Chain) (uint32, error)) error {
	if !q.Ready() {
		return nil
	}
	c := &q.scratch
	pushed := false
	for {
		q.DisableNotify()
		for {
			ok, err := q.Pop(c)
			if err != nil {
				a.Fail(err)
				return err
			}
			if !ok {
				break
			}
			n, err := process(c)
			if err != nil {
				a.Fail(err)
				return err
			}
			q.Push(c.Head, n)
			pushed = true
		}
		if !q.EnableNotify() {
			break
		}
	}
	if pushed {
		if err := q.Interrupt(); err != nil {
			a.Log.Warn("queue interrupt failed", "queue", q.Index(), "err", err)
		}
	}
	return nil
}

// ServeQueues starts a loop that drains each given queue with process
// whenever the driver notifies it (and once at start, for chains made
// available before the device started). It is the usual worker of a device
// whose requests complete synchronously.
func (a *Activation) ServeQueues(queues []*Queue, process func(q *Queue, c *Chain) (uint32, error)) (*Loop, error) {
	fds := make([]unix.PollFd, 0, len(queues))
	for _, q := range queues {
		fds = append(fds, unix.PollFd{Fd: int32(q.KickFD()), Events: unix.POLLIN})
		if q.Ready() {
			if err := q.kick.Signal(); err != nil {
				return nil, fmt.Errorf("serve queues: %w", err)
			}
		}
	}
	return StartLoop(a.Log, fds, func(ready []unix.PollFd) error {
		for i, p := range ready {
			if p.Revents == 0 {
				continue
			}
			q := queues[i]
			if err := q.DrainKick(); err != nil {
				return fmt.Errorf("queue %d: %w", q.Index(), err)
			}
			if err := a.Drain(q, func(c *Chain) (uint32, error) { return process(q, c) }); err != nil {
				return err
			}
		}
		return nil
	})
}
