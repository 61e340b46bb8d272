"""What every channel shares: the status machine, the guard, sending and its audit rows, the one
dispatch discipline, the one normalized provider status event, pacing, the senders, queries."""
