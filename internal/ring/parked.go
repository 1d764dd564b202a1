package ring

// ConsumersParked returns the number of consumers parked (or about to
// park) waiting for publications. It is for tests and metrics.
func (r *Ring[T]) ConsumersParked() int { return r.avail.Parked() }

// ProducersParked returns the number of producers parked (or about to
// park) waiting for a free slot. It is for tests and metrics.
func (r *Ring[T]) ProducersParked() int { return r.space.Parked() }
