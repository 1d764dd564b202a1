package ring

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// msg is the payload of the benchmarks, the same for the ring and the
// channel baseline.
type msg struct {
	seq, v int64
}

const benchSize = 1024

// split divides n messages among p producers.
func split(n, p, i int) int {
	if i == 0 {
		return n/p + n%p
	}
	return n / p
}

// BenchmarkRingThroughput: producers goroutines Claim/Publish one message
// each, one consumer batches with WaitPublished and releases. One op is one
// message.
func BenchmarkRingThroughput(b *testing.B) {
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			r, _ := New[msg](benchSize)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range split(b.N, producers, p) {
						seq, slot, err := r.Claim(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						*slot = msg{seq: seq, v: int64(i)}
						r.Publish(seq)
					}
				}()
			}
			var sum int64
			for next := int64(1); next <= int64(b.N); {
				hi, err := r.WaitPublished(ctx, next)
				if err != nil {
					b.Fatal(err)
				}
				for s := next; s <= hi; s++ {
					sum += r.Slot(s).v
				}
				r.Release(hi)
				next = hi + 1
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			_ = sum
		})
	}
}

// BenchmarkChannelThroughput is the baseline for BenchmarkRingThroughput: a
// buffered channel of the same capacity.
func BenchmarkChannelThroughput(b *testing.B) {
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			ch := make(chan msg, benchSize)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range split(b.N, producers, p) {
						ch <- msg{seq: int64(i), v: int64(i)}
					}
				}()
			}
			var sum int64
			for range b.N {
				sum += (<-ch).v
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			_ = sum
		})
	}
}

// BenchmarkRingPingPong: one round trip per op through two rings (request
// and reply), each side waiting with the default Waiter. ns/op is the round
// trip latency.
func BenchmarkRingPingPong(b *testing.B) {
	req, _ := New[msg](8)
	resp, _ := New[msg](8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // pong
		for next := int64(1); ; next++ {
			if _, err := req.WaitPublished(ctx, next); err != nil {
				return
			}
			v := req.Slot(next).v
			req.Release(next)
			seq, slot, err := resp.Claim(ctx)
			if err != nil {
				return
			}
			*slot = msg{seq: seq, v: v + 1}
			resp.Publish(seq)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range int64(b.N) {
		seq, slot, err := req.Claim(ctx)
		if err != nil {
			b.Fatal(err)
		}
		*slot = msg{seq: seq, v: i}
		req.Publish(seq)
		if _, err := resp.WaitPublished(ctx, seq); err != nil {
			b.Fatal(err)
		}
		if resp.Slot(seq).v != i+1 {
			b.Fatal("wrong reply")
		}
		resp.Release(seq)
	}
	b.StopTimer()
	req.Close()
	resp.Close()
}

// BenchmarkChannelPingPong is the baseline for BenchmarkRingPingPong: two
// channels of capacity 1.
func BenchmarkChannelPingPong(b *testing.B) {
	req, resp := make(chan msg, 1), make(chan msg, 1)
	go func() {
		for m := range req {
			resp <- msg{seq: m.seq, v: m.v + 1}
		}
	}()
	defer close(req)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range int64(b.N) {
		req <- msg{seq: i, v: i}
		if (<-resp).v != i+1 {
			b.Fatal("wrong reply")
		}
	}
}
