// Akka Typed 2.6: per-child supervision (restart) plays one_for_one's part.
import akka.actor.typed.{ActorRef, ActorSystem, Behavior, SupervisorStrategy}
import akka.actor.typed.scaladsl.AskPattern._
import akka.actor.typed.scaladsl.Behaviors
import akka.util.Timeout
import scala.concurrent.Await
import scala.concurrent.duration._

object Counter {
  sealed trait Command
  final case class Increment(by: Int) extends Command
  final case class Get(replyTo: ActorRef[Int]) extends Command

  def apply(n: Int = 0): Behavior[Command] = Behaviors.receiveMessage {
    case Increment(by) => apply(n + by)
    case Get(replyTo)  => replyTo ! n; Behaviors.same
  }
}

object Main extends App {
  val supervised = Behaviors.supervise(Counter()).onFailure[Exception](SupervisorStrategy.restart)
  implicit val system: ActorSystem[Counter.Command] = ActorSystem(supervised, "counter")
  implicit val timeout: Timeout = 5.seconds
  system ! Counter.Increment(2)
  assert(Await.result(system.ask(Counter.Get(_)), 5.seconds) == 2)
}
