import ArgumentParser
import Foundation
import NIOPosix
import Reception

/// `jpki-reception --jpkid-socket PATH [--listen 127.0.0.1:PORT] [--open]`: the reception counter
/// page on loopback, a client of jpkid's Unix socket (jpkid's roles apply to the user running it).
@main
struct JPKIReception: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jpki-reception",
        abstract: "Serve the reception counter page (マイナ保険証 check) on 127.0.0.1.",
        discussion: """
            Prints one line `reception: http://127.0.0.1:PORT/?token=…`. The token is good once: \
            the browser that opens it gets a cookie and the token is forgotten (start again for \
            another browser). jpkid's roles apply to the user running this command.
            """)

    @Option(name: .customLong("jpkid-socket"), help: "jpkid's Unix socket (e.g. /run/jpkid/jpkid.sock).")
    var jpkidSocket: String

    @Option(name: .long, help: "Listen address, loopback only (default 127.0.0.1:0 = any free port).")
    var listen: String = "127.0.0.1:0"

    @Flag(name: .long, help: "Open the page with xdg-open.")
    var open = false

    @Option(name: .customLong("idle-seconds"), help: "Clear a panel after this many idle seconds (default 120).")
    var idleSeconds: Int = 120

    func run() async throws {
        let port: Int
        do {
            port = try ReceptionServer.parseListen(listen)
        } catch {
            throw ValidationError(error.description)
        }
        guard (5...3600).contains(idleSeconds) else { throw ValidationError("--idle-seconds must be 5…3600") }
        let server = try await ReceptionServer.bind(
            port: port, jpkidSocket: jpkidSocket, group: MultiThreadedEventLoopGroup.singleton,
            idleSeconds: idleSeconds)
        let url = server.startURL
        FileHandle.standardOutput.write(Data("reception: \(url)\n".utf8))
        if open {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["xdg-open", url]
            try? p.run()
        }
        try await server.run()
    }
}
