/**
 * Address classification for the SSRF guard: which resolved addresses a tool may not reach.
 *
 * @internal
 */
import { BlockList, isIP } from "node:net"

interface Range {
  readonly label: string
  readonly v4?: ReadonlyArray<readonly [string, number]>
  readonly v6?: ReadonlyArray<readonly [string, number]>
}

// Ranges that are not the public internet (RFC 6890 and friends). IPv6 forms that embed an IPv4 address
// (mapped, NAT64, 6to4, Teredo) are refused outright: they are how filters get bypassed.
const RANGES: ReadonlyArray<Range> = [
  { label: "unspecified", v4: [["0.0.0.0", 8]], v6: [["::", 128]] },
  { label: "loopback", v4: [["127.0.0.0", 8]], v6: [["::1", 128]] },
  {
    label: "private",
    v4: [
      ["10.0.0.0", 8],
      ["172.16.0.0", 12],
      ["192.168.0.0", 16]
    ],
    v6: [["fc00::", 7]]
  },
  { label: "metadata", v4: [["169.254.169.254", 32]], v6: [["fd00:ec2::254", 128]] },
  { label: "link-local", v4: [["169.254.0.0", 16]], v6: [["fe80::", 10]] },
  { label: "carrier-grade NAT", v4: [["100.64.0.0", 10]] },
  { label: "multicast", v4: [["224.0.0.0", 4]], v6: [["ff00::", 8]] },
  {
    label: "reserved",
    v4: [
      ["192.0.0.0", 24],
      ["192.0.2.0", 24],
      ["198.18.0.0", 15],
      ["198.51.100.0", 24],
      ["203.0.113.0", 24],
      ["240.0.0.0", 4]
    ],
    v6: [
      ["100::", 64],
      ["2001:db8::", 32],
      ["fec0::", 10]
    ]
  },
  {
    label: "IPv4-embedding IPv6",
    v6: [
      ["::ffff:0:0", 96],
      ["::", 96],
      ["64:ff9b::", 96],
      ["64:ff9b:1::", 48],
      ["2002::", 16],
      ["2001::", 32]
    ]
  }
]

// One list per family: node's BlockList matches IPv4 addresses against IPv6 rules (and back) otherwise.
const lists = RANGES.map((range) => {
  const v4 = new BlockList()
  const v6 = new BlockList()
  for (const [address, prefix] of range.v4 ?? []) v4.addSubnet(address, prefix, "ipv4")
  for (const [address, prefix] of range.v6 ?? []) v6.addSubnet(address, prefix, "ipv6")
  return { label: range.label, v4, v6 }
})

/**
 * The kind of non-public address `address` is (`loopback`, `private`, …), or undefined for a public address.
 * Anything that is not an IP address at all is reported as `invalid`.
 */
export const classify = (address: string): string | undefined => {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address
  const version = isIP(bare)
  if (version === 0) return "invalid"
  for (const { label, v4, v6 } of lists) {
    if (version === 4 ? v4.check(bare, "ipv4") : v6.check(bare, "ipv6")) return label
  }
  return undefined
}

/** Host names refused before resolution (they only ever name the local machine or a cloud metadata service). */
export const isBlockedHostname = (hostname: string): boolean => {
  const host = hostname.toLowerCase().replace(/\.$/, "")
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "metadata.google.internal" ||
    host === "metadata" ||
    host === "instance-data"
  )
}
