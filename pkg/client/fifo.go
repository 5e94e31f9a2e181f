package client

// fifo is a growable ring of field IDs: the client's local queue.
type fifo struct {
	buf        []uint32
	head, size int
}

func (q *fifo) len() int { return q.size }

func (q *fifo) push(id uint32) {
	if q.size == len(q.buf) {
		grown := make([]uint32, max(64, 2*len(q.buf)))
		n := copy(grown, q.buf[q.head:])
		copy(grown[n:], q.buf[:q.head])
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = id
	q.size++
}

func (q *fifo) pop() (uint32, bool) {
	if q.size == 0 {
		return 0, false
	}
	id := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return id, true
}
