// The record format and hash chain live in @outpost/protocol so the device's audit log (EMS)
// writes and verifies exactly the same records.
export { canonicalJson, GENESIS_HASH, hashRecord, sealRecord } from "@outpost/protocol";
