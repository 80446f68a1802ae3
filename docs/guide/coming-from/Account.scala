// Akka Typed 2.6 with akka-persistence-typed; application.conf below.
import akka.actor.typed.{ActorRef, ActorSystem, Behavior}
import akka.actor.typed.scaladsl.AskPattern._
import akka.pattern.StatusReply
import akka.persistence.typed.PersistenceId
import akka.persistence.typed.scaladsl.{Effect, EventSourcedBehavior}
import akka.util.Timeout
import scala.concurrent.Await
import scala.concurrent.duration._

trait CborSerializable
object Account {
  sealed trait Command extends CborSerializable
  final case class Deposit(amount: Long, replyTo: ActorRef[StatusReply[Long]]) extends Command
  final case class Withdraw(amount: Long, replyTo: ActorRef[StatusReply[Long]]) extends Command
  final case class Balance(replyTo: ActorRef[Long]) extends Command
  sealed trait Event extends CborSerializable
  final case class Deposited(amount: Long) extends Event
  final case class Withdrawn(amount: Long) extends Event

  def apply(id: String): Behavior[Command] =
    EventSourcedBehavior[Command, Event, Long](PersistenceId.ofUniqueId(id), 0L,
      (balance, command) => command match {
        case Deposit(a, replyTo) => Effect.persist(Deposited(a)).thenReply(replyTo)(StatusReply.Success(_))
        case Withdraw(a, replyTo) if a > balance => Effect.reply(replyTo)(StatusReply.Error("insufficient funds"))
        case Withdraw(a, replyTo) => Effect.persist(Withdrawn(a)).thenReply(replyTo)(StatusReply.Success(_))
        case Balance(replyTo) => Effect.reply(replyTo)(balance)
      },
      (balance, event) => event match {
        case Deposited(a) => balance + a
        case Withdrawn(a) => balance - a
      })
}

object Main extends App {
  implicit val system: ActorSystem[Account.Command] = ActorSystem(Account("account-1"), "bank")
  implicit val timeout: Timeout = 5.seconds
  val before = Await.result(system.ask(Account.Balance(_)), 5.seconds)
  system ! Account.Deposit(100, system.ignoreRef)
  assert(Await.result(system.ask(Account.Withdraw(500, _)), 5.seconds).isError)
  assert(Await.result(system.ask(Account.Balance(_)), 5.seconds) == before + 100)
}

