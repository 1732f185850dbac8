import ArgumentParser
import CardSimulator
import Foundation
import SmartCard
import SmartCardPCSC
import Synchronization

/// `jpki-bench insert-latency`: the clinic flow timed end to end. Each iteration inserts a
/// simulated card (an in-process VPCDBridge connecting to vpcd = the card goes into the reader),
/// waits like a client would for the daemon's `card-inserted` event (Server-Sent Events) to get
/// the session, POSTs the operation with the demo PIN and stops the clock when the answer is
/// read; then removes the card and waits for `card-removed`.
///
/// pcscd notices a vpcd card by polling (every 400 ms), so the insertion instant is drawn at
/// random after each removal (as a person's would be) instead of right after pcscd's removal
/// poll, which would always land just after a poll. A PC/SC monitor in this process records
/// when pcscd reports the card, to split the figure into pcscd detection, identification
/// (jpkid's card-inserted) and the operation.
///
/// The first answer decides: anything but 200 ends the measurement with the status and error
/// code (e.g. 404 `not_found` while the eligibility endpoint does not exist) — no number is made up.
struct InsertLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insert-latency", abstract: "Card insert → answer latency through jpkid.")

    @Option(help: "jpkid's socket.") var socket: String
    @Option(help: "Fixture card name.") var card = "00-ordinary"
    @Option(help: "vpcd port of the slot (35963 = slot 0).") var port: UInt16 = 35963
    @Option(help: "Reader name of that slot.") var reader = "Virtual PCD 00 00"
    @Option(help: "Operation under /v1/sessions/{s}/ (authenticate, eligibility).") var endpoint = "authenticate"
    @Option(help: "Request body.") var body = #"{"pin":"1234"}"#
    @Option(help: "Iterations.") var iterations = 20
    @Option(help: "Timing profile of the inserted card (Sources/CardSimulator/TIMING.md).") var timing = "none"

    func run() async throws {
        let detected = Detections()
        let monitor = PCSCMonitor()
        let reader = self.reader
        let watcher = Task {
            for await e in monitor.events {
                if case .cardInserted(let r, _) = e, r == reader {
                    let now = ContinuousClock.now
                    detected.times.withLock { $0.append(now) }
                }
            }
        }
        let out: [String: Any]
        do {
            out = try await measure(detected: detected)
        } catch {
            monitor.stop()
            watcher.cancel()
            throw error
        }
        monitor.stop()
        watcher.cancel()
        emit(out)
    }

    /// The HTTP client is async (async-http-client); the bridge's blocking calls run on a thread.
    func measure(detected: Detections) async throws -> [String: Any] {
        let events = try await EventStream(socket: socket)
        let profile = try timingProfile(timing)
        let simulated = TimedCard(try VirtualMyNumberCard.fixture(card), profile: profile)
        var totals: [Double] = []
        var toDetection: [Double] = []
        var toSession: [Double] = []
        var failure: [String: Any]?
        // Card-side counters per insertion (identification + operation).
        var apdus: [Int] = []
        var bytes: [Int] = []
        var modelled: [Double] = []
        var late: [Double] = []
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<iterations {
            try await Task.sleep(for: .seconds(Double.random(in: 0..<0.4, using: &rng)))
            let bridge = VPCDBridge(card: simulated, port: port)
            let before = simulated.totals
            let clock = ContinuousClock()
            let t0 = clock.now
            try await onThread { try bridge.start() }
            var session: String?
            while session == nil {
                let e = try await events.next()
                guard e.type == "card-inserted", e.data["reader"] as? String == reader else { continue }
                guard let s = e.data["session"] as? String else {
                    bridge.stop()
                    throw BenchError("card not usable: \(e.data["error"] ?? "?")")
                }
                session = s
            }
            let t1 = clock.now
            let (status, answer) = try await jpkidRequest(
                socket, "POST", "/v1/sessions/\(session!)/\(endpoint)", body: body)
            let t2 = clock.now
            let after = simulated.totals
            apdus.append(after.apdus - before.apdus)
            bytes.append(after.commandBytes + after.responseBytes - before.commandBytes - before.responseBytes)
            modelled.append(micros(after.modelled - before.modelled))
            late.append(micros(after.late - before.late))
            try await onThread {
                bridge.stop()
                bridge.waitUntilStopped()
            }
            while true {
                let e = try await events.next()
                if e.type == "card-removed", e.data["reader"] as? String == reader { break }
            }
            guard status == 200 else {
                let json = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any]
                let code = (json?["error"] as? [String: Any])?["code"] as? String ?? "?"
                failure = ["status": status, "code": code]
                break
            }
            if endpoint == "authenticate" {
                let json = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any]
                guard json?["verified"] as? Bool == true else {
                    throw BenchError("authenticate answered 200 but not verified")
                }
            }
            totals.append(micros(t2 - t0))
            toSession.append(micros(t1 - t0))
            let seen = detected.times.withLock { $0.first { $0 >= t0 && $0 <= t1 } }
            toDetection.append(seen.map { micros($0 - t0) } ?? .nan)
        }
        var out: [String: Any] = [
            "tool": "insert_latency", "endpoint": endpoint, "iterations": totals.count, "timing": timing,
            "card_apdus": apdus, "card_bytes": bytes, "card_modelled_us": modelled, "card_late_us": late,
        ]
        if let failure {
            out["failure"] = failure
        } else {
            out["total_us"] = totals
            out["insert_to_session_us"] = toSession
            out["insert_to_pcscd_detection_us"] = toDetection.map { $0.isNaN ? -1 : $0 }
        }
        return out
    }
}

/// When pcscd reported the card (as seen by this process's PC/SC monitor).
final class Detections: Sendable {
    let times = Mutex<[ContinuousClock.Instant]>([])
}
