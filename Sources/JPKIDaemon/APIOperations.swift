import Foundation
import OpenAPIRuntime

/// The operations of docs/openapi.yaml (the generated `APIProtocol`): each takes its generated
/// `Input` (path parameters, the decoded request body), runs the handler of ``DaemonAPI`` for it
/// with the request's peer and roles (``RequestContext``), and answers the generated `Output`.
/// Errors are thrown (``APIError`` and the card, audit and registry errors ``DaemonAPI`` maps)
/// and answered as `{"error":{code,message}}` by ``DaemonAPI/respondUnmeasured(to:)``.
struct APIOperations: APIProtocol {
    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try await c.api.health().payload())))
    }

    func listReaders(_ input: Operations.ListReaders.Input) async throws -> Operations.ListReaders.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try c.api.supervisor.board.response().payload())))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .textPlainCharsetUtf8Version_0_0_4(HTTPBody(await c.api.metricsText().bytes))))
    }

    func streamEvents(_ input: Operations.StreamEvents.Input) async throws -> Operations.StreamEvents.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .textEventStream(try c.api.events(peer: c.peer).eventBody)))
    }

    func getSession(_ input: Operations.GetSession.Input) async throws -> Operations.GetSession.Output {
        let c = try RequestContext.now
        return .ok(
            .init(body: .json(try APIResponse.json(await c.api.supervisor.session(input.path.session)).payload())))
    }

    func getCertificates(_ input: Operations.GetCertificates.Input) async throws
        -> Operations.GetCertificates.Output
    {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try await c.api.certificates(input.path.session, peer: c.peer).payload())))
    }

    func getPINStatus(_ input: Operations.GetPINStatus.Input) async throws -> Operations.GetPINStatus.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try await c.api.pinStatus(input.path.session, peer: c.peer).payload())))
    }

    func authenticate(_ input: Operations.Authenticate.Input) async throws -> Operations.Authenticate.Output {
        let c = try RequestContext.now
        guard case .json(let body) = input.body else { throw APIError.badRequest("a JSON body is required") }
        return .ok(.init(body: .json(try await c.api.authenticate(input.path.session, body, peer: c.peer).payload())))
    }

    func readIdentity(_ input: Operations.ReadIdentity.Input) async throws -> Operations.ReadIdentity.Output {
        let c = try RequestContext.now
        guard case .json(let body) = input.body else { throw APIError.badRequest("a JSON body is required") }
        let answer = try await c.api.identity(input.path.session, body, peer: c.peer, granted: c.granted)
        return .ok(.init(body: .json(try answer.payload())))
    }

    func readFace(_ input: Operations.ReadFace.Input) async throws -> Operations.ReadFace.Output {
        let c = try RequestContext.now
        guard case .json(let body) = input.body else { throw APIError.badRequest("a JSON body is required") }
        let answer = try await c.api.face(input.path.session, body, peer: c.peer, granted: c.granted)
        let h = answer.headers
        return .ok(
            .init(
                headers: .init(
                    xJPKIDSession: h.first(name: "x-jpkid-session"), xJPKIDCard: h.first(name: "x-jpkid-card"),
                    xJPKIDIntegrity: h.first(name: "x-jpkid-integrity").flatMap { .init(rawValue: $0) },
                    xJPKIDBirthDate: h.first(name: "x-jpkid-birth-date"),
                    xJPKIDSex: h.first(name: "x-jpkid-sex").flatMap { .init(rawValue: $0) },
                    xJPKIDExpiry: h.first(name: "x-jpkid-expiry")),
                body: .imageJp2(HTTPBody(answer.bytes))))
    }

    func checkEligibility(_ input: Operations.CheckEligibility.Input) async throws
        -> Operations.CheckEligibility.Output
    {
        let c = try RequestContext.now
        guard case .json(let body) = input.body else { throw APIError.badRequest("a JSON body is required") }
        return .ok(.init(body: .json(try await c.api.eligibility(input.path.session, body, peer: c.peer).payload())))
    }

    func listFaceResults(_ input: Operations.ListFaceResults.Input) async throws
        -> Operations.ListFaceResults.Output
    {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try await c.api.faceResults(nil, peer: c.peer).payload())))
    }

    func getFaceResult(_ input: Operations.GetFaceResult.Input) async throws -> Operations.GetFaceResult.Output {
        let c = try RequestContext.now
        return .ok(.init(body: .json(try await c.api.faceResults(input.path.id, peer: c.peer).payload())))
    }
}
