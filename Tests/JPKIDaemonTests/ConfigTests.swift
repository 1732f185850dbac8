import Foundation
import JPKIDaemon
import Testing

@Suite("jpkid configuration")
struct ConfigTests {
    @Test("an empty file gives the documented defaults")
    func defaults() throws {
        let c = try DaemonConfig.parse(Data("{}".utf8))
        #expect(c.socket.path == "/run/jpkid/jpkid.sock")
        #expect(c.socketMode == 0o660)
        #expect(c.myNumber.enabled == false)
        #expect(c.roles.users["0"] == Role.allCases)
        #expect(c.limits.maxBodyBytes == 65_536)
    }

    @Test("typos, bad types and bad values are rejected with the field named")
    func rejects() {
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"sokcet":{}}"#.utf8)) }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"myNumber":{"enabled":"yes"}}"#.utf8)) }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"socket":{"mode":"999"}}"#.utf8)) }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"roles":{"users":{"0":["god"]}}}"#.utf8)) }
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"trust":{"revocationUnavailable":"maybe"}}"#.utf8))
        }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data("not json".utf8)) }
        do {
            _ = try DaemonConfig.parse(Data(#"{"limits":{"maxBodyBytes":1}}"#.utf8))
            Issue.record("accepted a 1-byte body limit")
        } catch {
            #expect("\(error)".contains("limits.maxBodyBytes"))
        }
    }

    @Test("roles come from uid and groups; unknown names are errors")
    func roles() throws {
        var r = DaemonConfig.Roles()
        r.users = ["1000": [.status]]
        r.groups = ["root": [.identity]]
        let map = try RoleMap(r)
        #expect(map.roles(for: PeerCredentials(pid: 1, uid: 1000, gid: 5)) == [.status])
        #expect(map.roles(for: PeerCredentials(pid: 1, uid: 1001, gid: 0)) == [.identity])
        #expect(map.roles(for: PeerCredentials(pid: 1, uid: 1001, gid: 5)).isEmpty)
        r.users = ["no-such-user-xyz": [.status]]
        #expect(throws: ConfigError.self) { try RoleMap(r) }
    }
}
