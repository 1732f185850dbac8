import Foundation
import JPKIDaemon
import Testing

@Suite("jpkid --check-config: the network a configuration needs vs. what the sandbox allows")
struct NetworkNeedsTests {
    static let closed = SandboxNetwork(inetSocketsAllowed: false, interfaces: ["lo"])
    static let privateNetwork = SandboxNetwork(inetSocketsAllowed: true, interfaces: ["lo"])
    static let open = SandboxNetwork(inetSocketsAllowed: true, interfaces: ["eth0", "lo"])

    func config(_ json: String) throws -> DaemonConfig { try DaemonConfig.parse(Data(json.utf8)) }

    @Test("the default (embedded SQLite, CRL files) needs no network: no problem even fully closed")
    func defaultNeedsNothing() throws {
        let c = try config("{}")
        #expect(c.networkNeeds().isEmpty)
        #expect(c.networkProblem(in: Self.closed) == nil)
    }

    @Test("PostgreSQL over TCP, the HTTP gateway and OCSP need it; PostgreSQL over its Unix socket does not")
    func needs() throws {
        let tcp = try config(
            #"{"eligibility":{"provider":"postgres","postgresURL":"postgres://jpkid@db.clinic.lan:5433/registry"}}"#)
        #expect(tcp.networkNeeds() == [NetworkNeed(field: "eligibility.postgresURL", endpoint: "db.clinic.lan:5433")])
        let unix = try config(
            #"{"eligibility":{"provider":"postgres","postgresURL":"postgres://jpkid@/registry?host=/run/postgresql"}}"#)
        #expect(unix.networkNeeds().isEmpty)
        let http = try config(#"{"eligibility":{"provider":"http","httpURL":"http://gateway.lan:8080/eligibility"}}"#)
        #expect(http.networkNeeds() == [NetworkNeed(field: "eligibility.httpURL", endpoint: "gateway.lan:8080")])
        let ocsp = try config(#"{"trust":{"ocspURL":"http://127.0.0.1:8888/"}}"#)
        #expect(ocsp.networkNeeds() == [NetworkNeed(field: "trust.ocspURL", endpoint: "127.0.0.1:8888")])
    }

    @Test("a need in a closed sandbox is a problem naming the field and the drop-in; an open one is fine")
    func problem() throws {
        let c = try config(
            #"{"eligibility":{"provider":"http","httpURL":"http://gateway.lan:8080/x"},"trust":{"ocspURL":"http://ocsp.lan/"}}"#
        )
        let closed = try #require(c.networkProblem(in: Self.closed))
        #expect(closed.description.contains("eligibility.httpURL (gateway.lan:8080), trust.ocspURL (ocsp.lan:80)"))
        #expect(closed.description.contains("RestrictAddressFamilies=AF_UNIX"))
        #expect(closed.description.contains("/usr/share/jpki/jpkid.service.d/network.conf"))
        let loOnly = try #require(c.networkProblem(in: Self.privateNetwork))
        #expect(loOnly.description.contains("PrivateNetwork=yes"))
        #expect(c.networkProblem(in: Self.open) == nil)
    }
}
