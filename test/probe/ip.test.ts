import { describe, expect, it } from "vitest";
import { bareAddress, isIpLiteral, isLocalHostname, isPrivateAddress } from "../../src/probe/ip.js";

describe("isPrivateAddress", () => {
  const privateCases: Array<[string, string]> = [
    ["10.0.0.0", "10/8 start"],
    ["10.255.255.255", "10/8 end"],
    ["172.16.0.1", "172.16/12 start"],
    ["172.31.255.255", "172.16/12 end"],
    ["192.168.0.1", "192.168/16"],
    ["192.168.255.255", "192.168/16 end"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback /8"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.0.1", "link-local"],
    ["100.64.0.1", "CGNAT start"],
    ["100.127.255.255", "CGNAT end"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "this network 0/8"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast end"],
    ["255.255.255.255", "broadcast"],
    ["::1", "v6 loopback"],
    ["::", "v6 unspecified"],
    ["[::1]", "bracketed v6 loopback"],
    ["fc00::1", "ULA fc00::/7"],
    ["fd12:3456::1", "ULA fd"],
    ["fe80::1", "v6 link-local"],
    ["fe80::1%eth0", "link-local with zone"],
    ["febf::1", "link-local /10 end"],
    ["FE80::1", "upper case"],
    ["ff00::1", "multicast ff00::/8"],
    ["ff02::1", "all-nodes multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback, dotted"],
    ["::ffff:7f00:1", "IPv4-mapped loopback, hex"],
    ["::FFFF:7F00:1", "IPv4-mapped, upper case"],
    ["::ffff:10.0.0.1", "IPv4-mapped RFC1918"],
    ["::ffff:8.8.8.8", "IPv4-mapped public (refused whatever it embeds)"],
    ["0:0:0:0:0:ffff:7f00:1", "IPv4-mapped loopback, uncompressed"],
    ["::127.0.0.1", "IPv4-compatible loopback"],
    ["64:ff9b::7f00:1", "NAT64"],
  ];
  it.each(privateCases)("%s is private (%s)", (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  const publicCases: Array<[string, string]> = [
    ["8.8.8.8", "Google DNS"],
    ["1.1.1.1", "Cloudflare DNS"],
    ["172.15.255.255", "just below 172.16/12"],
    ["172.32.0.0", "just above 172.16/12"],
    ["100.63.255.255", "just below CGNAT"],
    ["100.128.0.0", "just above CGNAT"],
    ["11.0.0.1", "just above 10/8"],
    ["169.255.0.1", "just above link-local"],
    ["223.255.255.255", "just below multicast"],
    ["2606:4700::1111", "Cloudflare v6"],
    ["2001:4860:4860::8888", "Google v6"],
    ["[2606:4700::1111]", "bracketed public v6"],
  ];
  it.each(publicCases)("%s is public (%s)", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it("is false for names and junk (they are not addresses; DNS decides)", () => {
    expect(isPrivateAddress("example.com")).toBe(false);
    expect(isPrivateAddress("")).toBe(false);
  });
});

describe("isLocalHostname", () => {
  it.each([
    "localhost",
    "LOCALHOST",
    "localhost.",
    "api.localhost",
    "printer.local",
    "svc.internal",
    "metadata",
    "metadata.google.internal",
  ])("%s is local", (host) => {
    expect(isLocalHostname(host)).toBe(true);
  });
  it.each(["api.openai.com", "localhost.example.com", "internal.example.com", "local"])(
    "%s is not local",
    (host) => {
      expect(isLocalHostname(host)).toBe(false);
    },
  );
});

describe("isIpLiteral and bareAddress", () => {
  it.each([
    ["127.0.0.1", true],
    ["[::1]", true],
    ["::1", true],
    ["[fe80::1%eth0]", true],
    ["example.com", false],
    ["", false],
  ] as const)("isIpLiteral(%s) is %s", (host, expected) => {
    expect(isIpLiteral(host)).toBe(expected);
  });
  it("strips brackets and zone ids", () => {
    expect(bareAddress("[fe80::1%eth0]")).toBe("fe80::1");
    expect(bareAddress("[::1]")).toBe("::1");
    expect(bareAddress("10.0.0.1")).toBe("10.0.0.1");
  });
});

describe("uncompressed and tunnelled IPv6 spellings", () => {
  it.each([
    "0:0:0:0:0:0:7f00:1",
    "0:0:0:0:0:ffff:808:808",
    "0:0:0:0:0:ffff:7f00:1",
    "2002:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "64:ff9b:1::a00:1",
  ])("%s is refused", (ip) => {
    expect(isPrivateAddress(ip)).toBe(true);
  });
});
