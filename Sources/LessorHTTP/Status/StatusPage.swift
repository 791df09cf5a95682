import Foundation
import LessorCore
import Mustache

/// The status page's HTML: `ui/*.mustache`, embedded at build time, rendered from a
/// ``StatusSnapshot`` turned into plain text fields (the templates hold no logic; Mustache
/// escapes every value).
enum StatusPage {
    /// The templates, by file name: `status`, `login`, `notice`, and the `style` partial they include.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for name in ["style", "status", "login", "notice"] {
            // The files are part of the build; a broken one fails the status page's tests.
            try? library.register(embeddedDocuments[name] ?? "", named: name)
        }
        return library
    }()

    /// The page of a snapshot.
    static func render(_ snapshot: StatusSnapshot, refreshSeconds: Int) -> String {
        library.render(View(snapshot, refreshSeconds: refreshSeconds), withTemplate: "status") ?? ""
    }

    /// The sign-in form, with a message above it when there is one.
    static func login(message: String? = nil) -> String {
        library.render(LoginView(message: message), withTemplate: "login") ?? ""
    }

    /// A one-message page (not found, forbidden, Redis unavailable), reloading itself after
    /// `retrySeconds` when given.
    static func notice(title: String, message: String, retrySeconds: Int?) -> String {
        library.render(NoticeView(title: title, message: message, retrySeconds: retrySeconds), withTemplate: "notice") ?? ""
    }

    struct LoginView {
        let message: String?
    }

    struct NoticeView {
        let title: String
        let message: String
        let retrySeconds: Int?
    }

    /// What `status.mustache` reads.
    struct View {
        let refreshSeconds: Int
        let readAt: String
        let readAtText: String
        let environments: [Environment]
        let hasEnvironments: Bool
        let moreEnvironments: Bool
        let shownEnvironments: Int
        let workers: [Worker]
        let hasWorkers: Bool

        init(_ snapshot: StatusSnapshot, refreshSeconds: Int) {
            let now = snapshot.readAt
            self.refreshSeconds = refreshSeconds
            readAt = now.rfc3339
            readAtText = String(now.rfc3339.prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC"
            environments = snapshot.environments.map { Environment($0, now: now) }
            hasEnvironments = !environments.isEmpty
            moreEnvironments = snapshot.moreEnvironments
            shownEnvironments = environments.count
            workers = snapshot.workers.map { Worker($0, now: now) }
            hasWorkers = !workers.isEmpty
        }
    }

    struct Environment {
        let id: String
        let name: String
        let archived: Bool
        let cloud: Bool
        let depth: String
        let pending: String
        let leased: String
        let stopped: String
        let workersPolling: String
        let oldestQueued: String
        let leases: [Lease]
        let moreLeases: Bool
        let shownLeases: Int
        let lapses: [Lapse]
        let stoppedItems: [Stop]
        let hasLeases: Bool
        let hasLapses: Bool
        let hasStopped: Bool
        let hasItems: Bool

        init(_ status: StatusSnapshot.EnvironmentStatus, now: Timestamp) {
            id = status.environment.id
            name = status.environment.name
            archived = status.environment.archivedAt != nil
            cloud = status.environment.kind == .cloud
            let none = "—"
            depth = status.queue.map { String($0.depth) } ?? none
            pending = status.queue.map { String($0.pending) } ?? none
            leased = cloud ? none : String(status.leased)
            stopped = cloud ? none : String(status.stopped)
            workersPolling = status.queue.map { String($0.workersPolling) } ?? none
            oldestQueued = status.queue?.oldestQueuedAt.map { ago($0, now: now) } ?? none
            leases = status.leases.map { Lease($0, now: now) }
            moreLeases = status.leased > leases.count
            shownLeases = leases.count
            lapses = status.recentLapses.map { Lapse($0, now: now) }
            stoppedItems = status.recentlyStopped.map { Stop($0, now: now) }
            hasLeases = !leases.isEmpty
            hasLapses = !lapses.isEmpty
            hasStopped = !stoppedItems.isEmpty
            hasItems = hasLeases || hasLapses || hasStopped
        }
    }

    /// A leased item: the bar is the lease left over the lease granted by the last renewal
    /// (the last heartbeat, or the ack), and drains by CSS animation over the time left.
    struct Lease {
        let id: String
        let state: String
        let holder: String
        let fencingToken: Int
        let remainingMs: Int
        let ttlMs: Int
        let percent: String
        let remainingSeconds: String
        let remainingText: String
        let ttlText: String
        let lastHeartbeat: String
        let lapses: Int

        init(_ item: WorkItem, now: Timestamp) {
            id = item.id
            state = item.state.rawValue
            holder = item.workerID ?? "—"
            fencingToken = item.fencingToken
            let remaining = max(0, Int((item.leaseRemaining ?? .zero) / .milliseconds(1)))
            remainingMs = remaining
            var granted = remaining
            if let expires = item.leaseExpiresAt, let renewed = item.latestHeartbeatAt ?? item.acknowledgedAt {
                // TTLs are whole seconds; the stamps differ from them by the renewal's own milliseconds.
                granted = max(remaining, Int((expires.microseconds - renewed.microseconds + 500_000) / 1_000_000) * 1000)
            }
            ttlMs = granted
            percent = granted > 0 ? String(format: "%.1f", Double(remaining) * 100 / Double(granted)) : "0"
            remainingSeconds = String(format: "%.3f", Double(remaining) / 1000)
            remainingText = Self.seconds(remaining) + " left"
            ttlText = Self.seconds(granted)
            lastHeartbeat = item.latestHeartbeatAt.map { ago($0, now: now) } ?? "none yet"
            lapses = item.lapseCount
        }

        /// "7.0 s", "1 min 17 s", "2 h 5 min".
        static func seconds(_ milliseconds: Int) -> String {
            let seconds = milliseconds / 1000
            switch milliseconds {
            case ..<60_000: return String(format: "%.1f s", Double(milliseconds) / 1000)
            case ..<3_600_000: return "\(seconds / 60) min \(seconds % 60) s"
            default: return duration(seconds)
            }
        }
    }

    /// A lease that lapsed, from the environment's lapse log.
    struct Lapse {
        let id: String
        let when: String
        let holder: String
        let fencingToken: Int
        let lapses: Int
        let outcome: String
        let deadLetter: Bool

        init(_ lapse: WorkLapse, now: Timestamp) {
            id = lapse.workID
            when = ago(lapse.at, now: now)
            holder = lapse.workerID ?? "—"
            fencingToken = lapse.fencingToken
            lapses = lapse.lapseCount
            outcome = lapse.outcome.rawValue
            deadLetter = lapse.outcome == .deadLettered
        }
    }

    /// A stopped item.
    struct Stop {
        let id: String
        let when: String
        let lapses: Int
        let deliveries: Int
        let fencingToken: Int
        let reason: String
        let deadLetter: Bool

        init(_ item: WorkItem, now: Timestamp) {
            id = item.id
            when = item.stoppedAt.map { ago($0, now: now) } ?? "—"
            lapses = item.lapseCount
            deliveries = item.deliveryCount
            fencingToken = item.fencingToken
            reason = item.stopReason?.rawValue ?? ""
            deadLetter = item.stopReason == .leaseLapsedTooOften
        }
    }

    struct Worker {
        let id: String
        let name: String
        let online: Bool
        let lastHeartbeat: String
        let lastActive: String
        let openSessions: String

        init(_ worker: LessorCore.Worker, now: Timestamp) {
            id = worker.id
            name = worker.name
            online = worker.online
            lastHeartbeat = worker.lastHeartbeatAt.map { ago($0, now: now) } ?? "never"
            lastActive = worker.lastActiveAt.map { ago($0, now: now) } ?? "—"
            openSessions = worker.openSessionCount.map { String($0) } ?? "—"
        }
    }

    /// "4 s ago", "3 min ago", "2 h 5 min ago" ("in …" for a stamp ahead of `now`).
    static func ago(_ instant: Timestamp, now: Timestamp) -> String {
        let seconds = Int((now.microseconds - instant.microseconds) / 1_000_000)
        return seconds < 0 ? "in " + duration(-seconds) : duration(seconds) + " ago"
    }

    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86_400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86_400) d \(seconds % 86_400 / 3600) h"
        }
    }
}
