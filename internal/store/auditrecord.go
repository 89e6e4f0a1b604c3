package store

import (
	"encoding/binary"
	"errors"
)

// An audit record as stored is an envelope: a version byte (1), the
// number of patient tags (uvarint), the tags (AuditTagLen bytes each: blind
// indexes of the patients the event names) and the sealed AuditEvent. The
// log's leaf hash covers the whole envelope, so the tags are as
// tamper-evident as the event.

// AuditTagLen is the length of a patient tag in an audit record.
const AuditTagLen = 16

const auditRecordVersion = 1

// ErrAuditRecord reports a stored audit record that is not an envelope.
var ErrAuditRecord = errors.New("store: malformed audit record")

// PackAuditRecord makes the stored form of a sealed event and its tags.
// Tags must be AuditTagLen bytes long.
func PackAuditRecord(tags [][]byte, sealed []byte) ([]byte, error) {
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(tags)*AuditTagLen+len(sealed))
	out = append(out, auditRecordVersion)
	out = binary.AppendUvarint(out, uint64(len(tags)))
	for _, t := range tags {
		if len(t) != AuditTagLen {
			return nil, ErrAuditRecord
		}
		out = append(out, t...)
	}
	return append(out, sealed...), nil
}

// UnpackAuditRecord splits a stored record into its tags and sealed event
// (both alias rec).
func UnpackAuditRecord(rec []byte) (tags [][]byte, sealed []byte, err error) {
	if len(rec) < 2 || rec[0] != auditRecordVersion {
		return nil, nil, ErrAuditRecord
	}
	n, k := binary.Uvarint(rec[1:])
	if k <= 0 || n > uint64(len(rec))/AuditTagLen {
		return nil, nil, ErrAuditRecord
	}
	rest := rec[1+k:]
	if uint64(len(rest)) < n*AuditTagLen {
		return nil, nil, ErrAuditRecord
	}
	tags = make([][]byte, n)
	for i := range tags {
		tags[i] = rest[i*AuditTagLen : (i+1)*AuditTagLen : (i+1)*AuditTagLen]
	}
	return tags, rest[n*AuditTagLen:], nil
}
