/*
 * Promela model of one fieldd slot: the publish, drain, dispatch and park
 * protocol between writer processes and the slot's reader.
 *
 * Run it with scripts/spin-check, which builds and runs the spin verifier.
 *
 * Shared state of one slot, as laid out in shared memory:
 *   cells[RING]    the ring (internal/ring). A cell is one atomic word that
 *                  packs (lap, full, id), so the model reads and writes a cell
 *                  in one step.
 *   tail           ring position that producers claim and advance.
 *   pending[f]     pending bitmap (internal/region), one bit per field. Go
 *                  changes single bits with atomic or/and-not, and the model
 *                  reads the bits one at a time, which allows more
 *                  interleavings than a read of the whole word.
 *   overflow       set by a producer whose field did not fit in the ring.
 *   waiting        futex word. The reader sets it to 1 before it sleeps.
 *   version[f]     version of field f. A version change stands for a new
 *                  value, so the reader delivers a value by storing its version.
 *
 * Processes:
 *   writer   NFIELDS producers. Writer f owns field f and runs publish PUBS
 *            times. At most one writer dies, at any point between two shared
 *            memory operations.
 *   reader   the slot owner: drain, dispatch, park, in a loop.
 *   daemon   repairs the slot after a writer died (left out with -DNO_REPAIR).
 *
 * Futex: `asleep` is kernel state, not shared memory. FUTEX_WAIT(&waiting, 1)
 * checks the word and queues the reader in one step, as the kernel does under
 * its hash-bucket lock. The reader then blocks until a FUTEX_WAKE clears
 * `asleep`, whatever `waiting` contains by then. The model has no spurious
 * wake-ups. They only make the reader loop once more.
 *
 * Checked properties:
 *   - When nothing else can run (timeout) the reader is asleep in FUTEX_WAIT,
 *     and then delivered[f] == version[f] must hold for every field. With
 *     -DNO_REPAIR the check skips fields whose writer died in the middle of a
 *     publish. A lost wake-up shows up as a failure of this assertion.
 *   - Dispatch never sees a version older than the one it delivered, and it
 *     delivers each version of a field at most once.
 *   - A producer that finds the ring full sees a cell of the previous lap.
 *
 * Build-time options (spin -DNAME=VALUE):
 *   RING=n                  ring cells (default 2)
 *   PUBS=n                  publishes per writer (default 2)
 *   DRAIN_RING_FIRST        drain reads the ring before the overflow flag
 *   NO_REPAIR               no daemon process
 *   REPAIR_WAKE_IF_WAITING  the daemon wakes the reader with the writer's
 *                           conditional wake instead of clearing `waiting` and
 *                           calling FUTEX_WAKE unconditionally
 *   BUG_NO_RECHECK          park sleeps without the recheck (known bug)
 *   BUG_NO_VERSION_CHECK    dispatch delivers without comparing versions
 *                           (known bug)
 */

#ifndef RING
#define RING 2
#endif

#ifndef PUBS
#define PUBS 2
#endif

#define NFIELDS 2

/* Attempts of one ring append before the producer treats the ring as full. */
#define MAX_TRIES 3

/* Value of `dead` while no writer has died. */
#define NONE 255

typedef Cell {
	byte lap;
	bit filled;
	byte id
};

Cell cells[RING];
byte tail;
bit pending[NFIELDS];
bit overflow;
bit waiting;
bit asleep;
byte version[NFIELDS];
byte delivered[NFIELDS];

/* Field of the writer that died, or NONE. */
byte dead = NONE;

/* Set when the dead writer had bumped the version but not finished publish. */
bit died_mid[NFIELDS];

/*
 * Let the calling writer die here unless another writer already died. MID is
 * 1 inside a publish (after the version bump) and 0 between publishes.
 */
#define MAYBE_DIE(MID) \
	if \
	:: atomic { dead == NONE -> dead = f; died_mid[f] = MID }; goto died \
	:: skip \
	fi

/*
 * Writers are declared first, so their _pid values 0 .. NFIELDS-1 are the
 * field ids.
 */
active [NFIELDS] proctype writer()
{
	byte f = _pid;
	byte n;		/* publishes started */
	byte t;		/* tail snapshot */
	byte lap;
	byte i;		/* cell index */
	byte tries;
	bit ok;
	Cell c;		/* cell snapshot after a failed CAS */

	do
	:: n == PUBS -> break
	:: else ->
		MAYBE_DIE(0);

		/* Step 1: store the value with a new version. */
		version[f]++;
		n++;
		MAYBE_DIE(1);

		/* Step 2: a set pending bit means the reader has not dispatched f yet. */
		if
		:: pending[f] -> goto published
		:: else
		fi;
		MAYBE_DIE(1);

		/* Step 3: atomic fetch-or of the pending bit. */
		atomic { ok = pending[f]; pending[f] = 1 };
		if
		:: ok -> ok = 0; goto published
		:: else
		fi;
		MAYBE_DIE(1);

		/* Step 4: ring append. */
		tries = 0;
		do
		:: tries == MAX_TRIES -> goto ring_full
		:: else ->
			tries++;
			atomic { t = tail; lap = t / RING; i = t % RING };
			MAYBE_DIE(1);

			/* CAS cells[i] from (lap, empty) to (lap, full, f). */
			atomic {
				if
				:: cells[i].lap == lap && !cells[i].filled ->
					cells[i].filled = 1;
					cells[i].id = f;
					ok = 1
				:: else -> ok = 0
				fi
			};
			MAYBE_DIE(1);

			if
			:: ok ->
				/* Advance tail past the filled cell, unless another producer did. */
				atomic { if :: tail == t -> tail = t + 1 :: else fi; ok = 0 };
				goto appended
			:: else
			fi;

			/*
			 * Go's CompareAndSwap returns only a bool, so the producer loads
			 * the cell again, and it may have changed since the CAS.
			 */
			atomic { c.lap = cells[i].lap; c.filled = cells[i].filled };
			MAYBE_DIE(1);

			if
			:: c.lap == lap && c.filled ->
				/* Another producer filled the cell: help advance tail. */
				atomic { if :: tail == t -> tail = t + 1 :: else fi };
				MAYBE_DIE(1)
			:: c.lap == lap && !c.filled ->
				/* The reader freed the cell after the CAS failed. */
				skip
			:: c.lap > lap ->
				/* t was stale. */
				skip
			:: c.lap < lap ->
				/* The cell still holds an entry of the previous lap. */
				assert(c.lap + 1 == lap && c.filled);
				goto ring_full
			fi;
			atomic { c.lap = 0; c.filled = 0 }
		od;

ring_full:
		overflow = 1;

appended:
		atomic { t = 0; lap = 0; i = 0; tries = 0; c.lap = 0; c.filled = 0 };
		MAYBE_DIE(1);

		/* Step 5: wake the reader if it announced that it sleeps. */
		if
		:: waiting ->
			MAYBE_DIE(1);
			atomic { if :: waiting -> waiting = 0; ok = 1 :: else -> ok = 0 fi };
			if
			:: ok ->
				ok = 0;
				MAYBE_DIE(1);
				asleep = 0	/* FUTEX_WAKE */
			:: else
			fi
		:: else
		fi;

published:
		skip
	od;
died:
	skip
}

/* Load the cell at head into c, in one step. */
inline load_head_cell()
{
	atomic {
		c.lap = cells[head % RING].lap;
		c.filled = cells[head % RING].filled;
		c.id = cells[head % RING].id
	}
}

inline clear_head_cell_copy()
{
	atomic { c.lap = 0; c.filled = 0; c.id = 0 }
}

/* Add field g to the local FIFO unless it is already queued. */
inline enqueue(g)
{
	if
	:: !queued[g] -> queued[g] = 1; fifo!g
	:: else
	fi
}

/* Clear the overflow flag and queue every field with a set pending bit. */
inline drain_overflow()
{
	atomic { ov = overflow; overflow = 0 };
	if
	:: ov ->
		ov = 0;
		f = 0;
		do
		:: f < NFIELDS ->
			if
			:: pending[f] -> enqueue(f)
			:: else
			fi;
			f++
		:: else -> break
		od;
		f = 0
	:: else
	fi
}

/* Take entries from the ring until the cell at head is not full for its lap. */
inline drain_ring()
{
	do
	:: load_head_cell();
		if
		:: c.lap == head / RING && c.filled ->
			enqueue(c.id);
			/* Free the cell for the next lap with one store. */
			atomic {
				cells[head % RING].lap = head / RING + 1;
				cells[head % RING].filled = 0;
				cells[head % RING].id = 0;
				head++;
				clear_head_cell_copy()
			}
		:: else ->
			clear_head_cell_copy();
			break
		fi
	od
}

/* Deliver every queued field. */
inline dispatch()
{
	do
	:: nempty(fifo) ->
		fifo?f;
		queued[f] = 0;
		pending[f] = 0;		/* atomic and-not */
		v = version[f];
#ifdef BUG_NO_VERSION_CHECK
		assert(v > delivered[f]);
		delivered[f] = v;
#else
		/*
		 * The same field can be queued again after it was delivered, by a ring
		 * entry and then the overflow scan, or by two ring entries of one
		 * writer. Only a newer version is delivered. The assertion shows that
		 * Go's check `v > delivered` also rejects nothing but repeats.
		 */
		if
		:: v != delivered[f] ->
			assert(v > delivered[f]);
			delivered[f] = v
		:: else
		fi;
#endif
		atomic { f = 0; v = 0 }
	:: empty(fifo) -> break
	od
}

/* Assert that the reader delivered the last version of every field. */
inline check_delivered_all()
{
	f = 0;
	do
	:: f < NFIELDS ->
#ifdef NO_REPAIR
		assert(died_mid[f] || delivered[f] == version[f]);
#else
		assert(delivered[f] == version[f]);
#endif
		f++
	:: else -> break
	od
}

active proctype reader()
{
	byte head;
	bit queued[NFIELDS];
	chan fifo = [NFIELDS] of { byte };
	byte f;
	byte v;
	bit ov;
	Cell c;

loop:
#ifdef DRAIN_RING_FIRST
	drain_ring();
	drain_overflow();
#else
	drain_overflow();
	drain_ring();
#endif
	dispatch();

	/* Park. */
	waiting = 1;
#ifndef BUG_NO_RECHECK
	/*
	 * A producer appends or sets overflow before it reads `waiting`, and the
	 * reader sets `waiting` before this recheck. So either the producer sees
	 * waiting == 1 and wakes the reader, or the recheck sees the new entry.
	 */
	if
	:: overflow -> waiting = 0; goto loop
	:: else
	fi;
	load_head_cell();
	if
	:: c.lap == head / RING && c.filled ->
		clear_head_cell_copy();
		waiting = 0;
		goto loop
	:: else ->
		clear_head_cell_copy()
	fi;
#endif

	/* FUTEX_WAIT(&waiting, 1) */
	atomic {
		if
		:: waiting -> asleep = 1
		:: else
		fi
	};
	if
	:: !asleep -> goto loop
	:: timeout ->
		/* Every writer finished or died and nothing will wake the reader. */
		check_delivered_all()
	fi
}

#ifndef NO_REPAIR
/*
 * Runs once a writer has died: marks the writer's field pending, sets
 * overflow so the next drain scans the bitmap, and wakes the reader.
 */
active proctype daemon()
{
	byte f;
	bit ok;

end_idle:
	dead != NONE;
	f = dead;
	pending[f] = 1;		/* atomic fetch-or */
	overflow = 1;
#ifdef REPAIR_WAKE_IF_WAITING
	if
	:: waiting ->
		atomic { if :: waiting -> waiting = 0; ok = 1 :: else -> ok = 0 fi };
		if
		:: ok -> asleep = 0
		:: else
		fi
	:: else
	fi
#else
	/*
	 * A writer that died between its CAS of `waiting` to 0 and FUTEX_WAKE left
	 * the reader asleep with waiting == 0, so the wake must not depend on
	 * `waiting`. Clearing the word first makes a FUTEX_WAIT that has not
	 * started yet return at once.
	 */
	waiting = 0;
	asleep = 0		/* FUTEX_WAKE */
#endif
}
#endif
