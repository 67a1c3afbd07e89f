// Package dist connects the processes of a run ("ranks", possibly on
// different hosts) with the standard library only.
//
// Main types: Env (a process's rank and rank 0's address, from the
// launcher's variables), StoreServer and Store (the rendezvous: a key-value
// store rank 0 serves at MASTER_ADDR:MASTER_PORT), Mesh (one TCP connection
// between every two ranks, carrying checksummed frames named by a Tag; it
// measures clock offsets, and breaks as a whole at its first failure,
// which a PeerError names), and the float codecs of message payloads
// (EncodeFloat32s and kin).
package dist
