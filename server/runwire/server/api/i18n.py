"""Localized error messages: `accept-language` picks English, Spanish or French for the LocalizedMessage detail.

The status `message` stays English (it is what logs and tools match on). Every
error also carries a `google.rpc.LocalizedMessage`: in English it repeats that
message; in Spanish and French it comes from this catalogue, keyed by the
ErrorInfo reason, with `{resource}` (and a few other ErrorInfo metadata
values) filled in when the error has them. Unknown languages, and reasons the
catalogue lacks, fall back to English.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

ENGLISH = "en"
LANGUAGES = ("en", "es", "fr")
ACCEPT_LANGUAGE = "accept-language"

# reason -> (Spanish, French). `{resource}` and other {names} come from ErrorInfo metadata; when one is missing
# the generic form (the entry under the same reason in _GENERIC) is used instead.
_SPECIFIC: dict[str, tuple[str, str]] = {
    "AGENT_NOT_FOUND": ("El agente {resource} no existe.", "L'agent {resource} n'existe pas."),
    "SESSION_NOT_FOUND": ("La sesión {resource} no existe o ha caducado.", "La session {resource} n'existe pas ou a expiré."),
    "MESSAGE_NOT_FOUND": ("El mensaje {resource} no existe.", "Le message {resource} n'existe pas."),
    "RUN_NOT_FOUND": ("La ejecución {resource} no existe.", "L'exécution {resource} n'existe pas."),
    "CREW_NOT_FOUND": ("El equipo {resource} no existe.", "L'équipe {resource} n'existe pas."),
    "FILE_NOT_FOUND": ("El archivo {resource} no existe.", "Le fichier {resource} n'existe pas."),
    "BATCH_NOT_FOUND": ("El lote {resource} no existe.", "Le lot {resource} n'existe pas."),
    "API_KEY_NOT_FOUND": ("La clave de API {resource} no existe.", "La clé d'API {resource} n'existe pas."),
    "API_KEY_REVOKED": ("La clave de API {api_key} ha sido revocada.", "La clé d'API {api_key} a été révoquée."),
    "API_KEY_EXPIRED": ("La clave de API {api_key} ha caducado.", "La clé d'API {api_key} a expiré."),
    "RATE_LIMITED": (
        "Se ha alcanzado el límite de llamadas de tipo {method_class}; vuelva a intentarlo más tarde.",
        "La limite d'appels de type {method_class} est atteinte ; réessayez plus tard.",
    ),
    "STREAM_LIMIT_EXCEEDED": (
        "Tiene {limit} flujos abiertos, el máximo permitido; cierre uno primero.",
        "Vous avez {limit} flux ouverts, le maximum autorisé ; fermez-en un d'abord.",
    ),
}

# reason -> (English, Spanish, French), used when the specific form cannot be filled in.
_GENERIC: dict[str, tuple[str, str, str]] = {
    "INVALID_ARGUMENT": (
        "The request has invalid fields.",
        "La solicitud tiene campos no válidos.",
        "La requête contient des champs non valides.",
    ),
    "AGENT_NOT_FOUND": ("The agent does not exist.", "El agente no existe.", "L'agent n'existe pas."),
    "SESSION_NOT_FOUND": (
        "The session does not exist or has expired.",
        "La sesión no existe o ha caducado.",
        "La session n'existe pas ou a expiré.",
    ),
    "MESSAGE_NOT_FOUND": ("The message does not exist.", "El mensaje no existe.", "Le message n'existe pas."),
    "ALREADY_EXISTS": (
        "A resource with this id already exists.",
        "Ya existe un recurso con este identificador.",
        "Une ressource avec cet identifiant existe déjà.",
    ),
    "ETAG_MISMATCH": (
        "The resource changed since it was read; read it again and retry.",
        "El recurso ha cambiado desde que se leyó; vuelva a leerlo e inténtelo de nuevo.",
        "La ressource a changé depuis sa lecture ; relisez-la et réessayez.",
    ),
    "AGENT_HAS_SESSIONS": (
        "The agent still has sessions; retry with force to delete them too.",
        "El agente todavía tiene sesiones; reintente con force para eliminarlas también.",
        "L'agent a encore des sessions ; réessayez avec force pour les supprimer aussi.",
    ),
    "SESSION_NOT_EMPTY": (
        "The session still has messages; retry with force to delete them too.",
        "La sesión todavía tiene mensajes; reintente con force para eliminarlos también.",
        "La session contient encore des messages ; réessayez avec force pour les supprimer aussi.",
    ),
    "MESSAGE_HAS_REPLIES": (
        "The message has replies; retry with force to delete the thread.",
        "El mensaje tiene respuestas; reintente con force para eliminar el hilo.",
        "Le message a des réponses ; réessayez avec force pour supprimer le fil.",
    ),
    "SESSION_QUOTA_EXCEEDED": (
        "You have reached the maximum number of sessions.",
        "Ha alcanzado el número máximo de sesiones.",
        "Vous avez atteint le nombre maximal de sessions.",
    ),
    "REQUEST_ID_REUSED": (
        "This request_id was already used for a different request.",
        "Este request_id ya se usó para otra solicitud.",
        "Ce request_id a déjà servi pour une autre requête.",
    ),
    "INVALID_PAGE_TOKEN": (
        "The page token is not valid for this query.",
        "El token de página no es válido para esta consulta.",
        "Le jeton de page n'est pas valide pour cette requête.",
    ),
    "INVALID_FILTER": (
        "The filter is not valid.",
        "El filtro no es válido.",
        "Le filtre n'est pas valide.",
    ),
    "AGENT_DISABLED": (
        "The agent is disabled and accepts no runs.",
        "El agente está desactivado y no acepta ejecuciones.",
        "L'agent est désactivé et n'accepte aucune exécution.",
    ),
    "RUN_NOT_FOUND": ("The run does not exist.", "La ejecución no existe.", "L'exécution n'existe pas."),
    "FILE_NOT_FOUND": ("The file does not exist.", "El archivo no existe.", "Le fichier n'existe pas."),
    "BATCH_NOT_FOUND": ("The batch does not exist.", "El lote no existe.", "Le lot n'existe pas."),
    "UNAUTHENTICATED": (
        "The call is not authenticated: send a valid API key or token.",
        "La llamada no está autenticada: envíe una clave de API o un token válidos.",
        "L'appel n'est pas authentifié : envoyez une clé d'API ou un jeton valide.",
    ),
    "PERMISSION_DENIED": (
        "You are not allowed to perform this action.",
        "No tiene permiso para realizar esta acción.",
        "Vous n'êtes pas autorisé à effectuer cette action.",
    ),
    "RATE_LIMITED": (
        "Rate limit reached; retry later.",
        "Se ha alcanzado el límite de llamadas; vuelva a intentarlo más tarde.",
        "La limite d'appels est atteinte ; réessayez plus tard.",
    ),
    "SHUTTING_DOWN": (
        "The server is shutting down; retry on another replica.",
        "El servidor se está apagando; reintente en otra réplica.",
        "Le serveur s'arrête ; réessayez sur une autre réplique.",
    ),
    "INTERNAL": (
        "An unexpected server error occurred; quote the request id when reporting it.",
        "Se produjo un error inesperado del servidor; indique el identificador de solicitud al informar de él.",
        "Une erreur inattendue du serveur s'est produite ; indiquez l'identifiant de requête en la signalant.",
    ),
    "CURSOR_EXPIRED": (
        "The event cursor is older than the retention period.",
        "El cursor de eventos es anterior al período de retención.",
        "Le curseur d'événements est plus ancien que la durée de rétention.",
    ),
    "INVALID_CURSOR": (
        "The event cursor is not valid.",
        "El cursor de eventos no es válido.",
        "Le curseur d'événements n'est pas valide.",
    ),
    "SUBSCRIPTION_NOT_FOUND": (
        "The subscription does not exist.",
        "La suscripción no existe.",
        "L'abonnement n'existe pas.",
    ),
    "STREAM_LIMIT_EXCEEDED": (
        "You have the maximum number of streams open; close one first.",
        "Tiene abierto el número máximo de flujos; cierre uno primero.",
        "Vous avez le nombre maximal de flux ouverts ; fermez-en un d'abord.",
    ),
    "SLOW_CONSUMER": (
        "The stream was read too slowly; resume from the last position received.",
        "El flujo se leyó demasiado despacio; reanude desde la última posición recibida.",
        "Le flux a été lu trop lentement ; reprenez depuis la dernière position reçue.",
    ),
    "RUN_NOT_ACTIVE": (
        "The run has already ended.",
        "La ejecución ya ha terminado.",
        "L'exécution est déjà terminée.",
    ),
    "RUN_REQUIRES_INPUT": (
        "The run is waiting for a person's answer.",
        "La ejecución está esperando la respuesta de una persona.",
        "L'exécution attend la réponse d'une personne.",
    ),
    "RUN_FAILED": ("The run failed.", "La ejecución ha fallado.", "L'exécution a échoué."),
    "RUN_CANCELLED": ("The run was cancelled.", "La ejecución fue cancelada.", "L'exécution a été annulée."),
    "RUN_TIMED_OUT": (
        "The run reached its maximum duration.",
        "La ejecución alcanzó su duración máxima.",
        "L'exécution a atteint sa durée maximale.",
    ),
    "INPUT_REQUEST_NOT_FOUND": (
        "The input request does not exist or is not the pending one.",
        "La solicitud de entrada no existe o no es la pendiente.",
        "La demande de saisie n'existe pas ou n'est pas celle en attente.",
    ),
    "INPUT_REQUEST_EXPIRED": (
        "The input request expired before it was answered.",
        "La solicitud de entrada caducó antes de ser respondida.",
        "La demande de saisie a expiré avant d'avoir reçu une réponse.",
    ),
    "INPUT_REQUEST_ALREADY_ANSWERED": (
        "The input request was already answered.",
        "La solicitud de entrada ya fue respondida.",
        "La demande de saisie a déjà reçu une réponse.",
    ),
    "INPUT_TIMEOUT": (
        "Nobody answered the input request in time.",
        "Nadie respondió a tiempo a la solicitud de entrada.",
        "Personne n'a répondu à temps à la demande de saisie.",
    ),
    "MAX_STEPS_EXCEEDED": (
        "The run reached its maximum number of steps.",
        "La ejecución alcanzó su número máximo de pasos.",
        "L'exécution a atteint son nombre maximal d'étapes.",
    ),
    "PROVIDER_ERROR": (
        "The model provider failed or could not be reached.",
        "El proveedor del modelo falló o no se pudo contactar.",
        "Le fournisseur du modèle a échoué ou est injoignable.",
    ),
    "TOOL_NOT_FOUND": ("The tool does not exist.", "La herramienta no existe.", "L'outil n'existe pas."),
    "FILE_TOO_LARGE": (
        "The upload exceeds the maximum file size.",
        "El archivo supera el tamaño máximo permitido.",
        "Le fichier dépasse la taille maximale autorisée.",
    ),
    "CHECKSUM_MISMATCH": (
        "The uploaded content's checksum does not match.",
        "La suma de comprobación del contenido subido no coincide.",
        "La somme de contrôle du contenu envoyé ne correspond pas.",
    ),
    "UPLOAD_SIZE_MISMATCH": (
        "The uploaded content's size does not match.",
        "El tamaño del contenido subido no coincide.",
        "La taille du contenu envoyé ne correspond pas.",
    ),
    "FILE_NOT_READY": (
        "The file's processing has not completed.",
        "El procesamiento del archivo no ha terminado.",
        "Le traitement du fichier n'est pas terminé.",
    ),
    "UNSUPPORTED_CONTENT_TYPE": (
        "The file's content type is not supported for this purpose.",
        "El tipo de contenido del archivo no es compatible con este uso.",
        "Le type de contenu du fichier n'est pas pris en charge pour cet usage.",
    ),
    "FILE_IN_USE": (
        "The file is used by a batch that has not ended.",
        "El archivo lo usa un lote que no ha terminado.",
        "Le fichier est utilisé par un lot qui n'est pas terminé.",
    ),
    "BATCH_NOT_ACTIVE": ("The batch has already ended.", "El lote ya ha terminado.", "Le lot est déjà terminé."),
    "BATCH_TOO_LARGE": (
        "The batch has more tasks than allowed.",
        "El lote tiene más tareas de las permitidas.",
        "Le lot contient plus de tâches que permis.",
    ),
    "BATCH_TASK_NOT_FOUND": (
        "The batch task does not exist.",
        "La tarea del lote no existe.",
        "La tâche du lot n'existe pas.",
    ),
    "MCP_SERVER_NOT_FOUND": (
        "The MCP server does not exist.",
        "El servidor MCP no existe.",
        "Le serveur MCP n'existe pas.",
    ),
    "MCP_SERVER_UNAVAILABLE": (
        "The MCP server cannot be reached.",
        "No se puede contactar con el servidor MCP.",
        "Le serveur MCP est injoignable.",
    ),
    "MCP_SERVER_IN_USE": (
        "Agents still use tools of this MCP server; retry with force.",
        "Hay agentes que aún usan herramientas de este servidor MCP; reintente con force.",
        "Des agents utilisent encore des outils de ce serveur MCP ; réessayez avec force.",
    ),
    "MEMORY_NOT_FOUND": ("The memory does not exist.", "La memoria no existe.", "La mémoire n'existe pas."),
    "API_KEY_NOT_FOUND": ("The API key does not exist.", "La clave de API no existe.", "La clé d'API n'existe pas."),
    "API_KEY_EXPIRED": ("The API key has expired.", "La clave de API ha caducado.", "La clé d'API a expiré."),
    "API_KEY_REVOKED": (
        "The API key has been revoked.",
        "La clave de API ha sido revocada.",
        "La clé d'API a été révoquée.",
    ),
    "CONFIG_INVALID": (
        "The configuration is not valid.",
        "La configuración no es válida.",
        "La configuration n'est pas valide.",
    ),
    "CONFIG_SOURCE_MISSING": (
        "The server has no configuration file to reload.",
        "El servidor no tiene un archivo de configuración que recargar.",
        "Le serveur n'a pas de fichier de configuration à recharger.",
    ),
    "SERVER_RESTARTED": (
        "The server restarted while the run was active.",
        "El servidor se reinició mientras la ejecución estaba activa.",
        "Le serveur a redémarré pendant l'exécution.",
    ),
    "RUN_LIMIT_EXCEEDED": (
        "You have reached the maximum number of active runs.",
        "Ha alcanzado el número máximo de ejecuciones activas.",
        "Vous avez atteint le nombre maximal d'exécutions actives.",
    ),
    "DEADLINE_EXCEEDED": (
        "The call did not complete before its deadline.",
        "La llamada no terminó antes de su plazo.",
        "L'appel ne s'est pas terminé avant son échéance.",
    ),
    "SESSION_HAS_ACTIVE_RUNS": (
        "The session has runs that have not ended; cancel them or wait, then delete.",
        "La sesión tiene ejecuciones que no han terminado; cancélelas o espere, y luego elimínela.",
        "La session a des exécutions non terminées ; annulez-les ou attendez, puis supprimez-la.",
    ),
    "MALFORMED_REQUEST": (
        "The request is not a valid message for this method.",
        "La solicitud no es un mensaje válido para este método.",
        "La requête n'est pas un message valide pour cette méthode.",
    ),
    "TOKEN_EXPIRED": (
        "The bearer token has expired; get a new one.",
        "El token de portador ha caducado; obtenga uno nuevo.",
        "Le jeton porteur a expiré ; obtenez-en un nouveau.",
    ),
    "TOKEN_INVALID": (
        "The bearer token is not valid.",
        "El token de portador no es válido.",
        "Le jeton porteur n'est pas valide.",
    ),
    "SECRET_NOT_FOUND": (
        "The secret does not exist.",
        "El secreto no existe.",
        "Le secret n'existe pas.",
    ),
    "PROVIDER_ENDPOINT_NOT_FOUND": (
        "The provider endpoint is not defined in the server's configuration.",
        "El endpoint del proveedor no está definido en la configuración del servidor.",
        "Le point d'accès du fournisseur n'est pas défini dans la configuration du serveur.",
    ),
    "MODEL_NOT_ALLOWED": (
        "The provider endpoint does not allow this model.",
        "El endpoint del proveedor no permite este modelo.",
        "Le point d'accès du fournisseur n'autorise pas ce modèle.",
    ),
    "SERVER_MESSAGE_NOT_FOUND": (
        "The message was not found.",
        "No se encontró el mensaje.",
        "Le message est introuvable.",
    ),
    "SERVER_MESSAGE_ANSWERED": (
        "The request was already answered.",
        "La solicitud ya fue respondida.",
        "La demande a déjà reçu une réponse.",
    ),
    "SERVER_MESSAGE_EXPIRED": (
        "The message has expired.",
        "El mensaje ha caducado.",
        "Le message a expiré.",
    ),
    "MCP_SERVER_DISABLED": (
        "The MCP server is disabled; enable it to connect it.",
        "El servidor MCP está desactivado; actívelo para conectarlo.",
        "Le serveur MCP est désactivé ; activez-le pour le connecter.",
    ),
    "DESTINATION_NOT_ALLOWED": (
        "The server does not send requests to this address.",
        "El servidor no envía solicitudes a esta dirección.",
        "Le serveur n'envoie pas de requêtes à cette adresse.",
    ),
    # Files.
    "FILE_EMPTY": (
        "The upload has no content.",
        "La subida no tiene contenido.",
        "Le téléversement n'a aucun contenu.",
    ),
    "CONTENT_TYPE_MISMATCH": (
        "The content is not of the declared content type.",
        "El contenido no es del tipo declarado.",
        "Le contenu n'est pas du type déclaré.",
    ),
    "EXTRACTION_FAILED": (
        "The file's content is damaged or not valid for its type.",
        "El contenido del archivo está dañado o no es válido para su tipo.",
        "Le contenu du fichier est endommagé ou non valide pour son type.",
    ),
    "DECOMPRESSION_LIMIT_EXCEEDED": (
        "The archive expands beyond the server's limits.",
        "El archivo comprimido se expande más allá de los límites del servidor.",
        "L'archive se décompresse au-delà des limites du serveur.",
    ),
    "FILE_TOO_COMPLEX": (
        "The file has more pixels or pages than the server processes.",
        "El archivo tiene más píxeles o páginas de los que procesa el servidor.",
        "Le fichier a plus de pixels ou de pages que le serveur n'en traite.",
    ),
    "OCR_UNAVAILABLE": (
        "The server has no OCR engine.",
        "El servidor no tiene motor de OCR.",
        "Le serveur n'a pas de moteur d'OCR.",
    ),
    "PROCESSING_LIMIT_EXCEEDED": (
        "Processing the file took more time or memory than allowed.",
        "Procesar el archivo requirió más tiempo o memoria de lo permitido.",
        "Le traitement du fichier a demandé plus de temps ou de mémoire que permis.",
    ),
    "SEMANTIC_SEARCH_UNAVAILABLE": (
        "Semantic search is not enabled on this server.",
        "La búsqueda semántica no está activada en este servidor.",
        "La recherche sémantique n'est pas activée sur ce serveur.",
    ),
    "BATCH_CANCELLED": (
        "The task did not end because its batch was cancelled.",
        "La tarea no terminó porque su lote fue cancelado.",
        "La tâche n'est pas terminée car son lot a été annulé.",
    ),
    "BATCH_TIMED_OUT": (
        "The task did not end before its batch's time limit.",
        "La tarea no terminó antes del límite de tiempo de su lote.",
        "La tâche ne s'est pas terminée avant la limite de temps de son lot.",
    ),
    "CREW_NOT_FOUND": ("The crew does not exist.", "El equipo no existe.", "L'équipe n'existe pas."),
    "CREW_TASK_FAILED": (
        "A task of the crew did not succeed.",
        "Una tarea del equipo no tuvo éxito.",
        "Une tâche de l'équipe n'a pas abouti.",
    ),
    "CREW_DEPTH_EXCEEDED": (
        "The run tree would be deeper than its limit allows.",
        "El árbol de ejecuciones superaría su profundidad máxima.",
        "L'arbre d'exécutions dépasserait sa profondeur maximale.",
    ),
    "CREW_CHILD_RUN_LIMIT_EXCEEDED": (
        "The run tree started more child runs than its limit allows.",
        "El árbol de ejecuciones inició más ejecuciones hijas de las permitidas.",
        "L'arbre d'exécutions a lancé plus d'exécutions filles que permis.",
    ),
    "CREW_TOKEN_LIMIT_EXCEEDED": (
        "The run tree used more tokens than its limit allows.",
        "El árbol de ejecuciones usó más tokens de los permitidos.",
        "L'arbre d'exécutions a utilisé plus de jetons que permis.",
    ),
    "CREW_PLAN_INVALID": (
        "The manager's plan is not a valid plan.",
        "El plan del responsable no es válido.",
        "Le plan du responsable n'est pas valide.",
    ),
    "CREW_TASK_OUTPUT_INVALID": (
        "A task's result does not follow its output schema.",
        "El resultado de una tarea no sigue su esquema de salida.",
        "Le résultat d'une tâche ne suit pas son schéma de sortie.",
    ),
    "UNIMPLEMENTED": (
        "This method is not implemented yet.",
        "Este método aún no está implementado.",
        "Cette méthode n'est pas encore implémentée.",
    ),
    # Generic reasons of domain errors that name no specific one.
    "NOT_FOUND": ("The resource does not exist.", "El recurso no existe.", "La ressource n'existe pas."),
    "FAILED_PRECONDITION": (
        "The resource is not in a state that allows this action.",
        "El recurso no está en un estado que permita esta acción.",
        "La ressource n'est pas dans un état qui permet cette action.",
    ),
    "RESOURCE_EXHAUSTED": ("A limit was reached.", "Se alcanzó un límite.", "Une limite a été atteinte."),
}

_INDEX = {"en": 0, "es": 1, "fr": 2}


@lru_cache(maxsize=512)
def pick_language(header: str) -> str:
    """The best supported language of an `accept-language` value (RFC 9110 weights); English when none fits."""
    best, best_weight = ENGLISH, 0.0
    for item in header[:256].split(","):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-", 1)[0]
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if language in _INDEX and weight > best_weight:
            best, best_weight = language, weight
        elif language == "*" and weight > best_weight:
            best, best_weight = ENGLISH, weight
    return best


# Appended to a localized message when the error names fields (BadRequest field violations): the field paths
# stay as the protos spell them, the descriptions stay English in the BadRequest detail.
_FIELDS = {"es": "Campos: {fields}.", "fr": "Champs : {fields}."}


def localize(
    reason: str, language: str, english: str, metadata: Mapping[str, str], fields: Sequence[str] = ()
) -> tuple[str, str]:
    """(locale, message) for `reason` in `language`; `english`, the status message, is the English text.

    `fields` are the paths of the error's field violations, named in the localized message (the English
    status message names them already)."""
    index = _INDEX.get(language)
    if not index:  # English, or a language without a catalogue
        return ENGLISH, english
    message = None
    specific = _SPECIFIC.get(reason)
    if specific is not None:
        try:
            message = specific[index - 1].format_map(metadata)
        except (KeyError, IndexError, ValueError):
            pass
    if message is None:
        generic = _GENERIC.get(reason)
        if generic is None:
            return ENGLISH, english
        message = generic[index]
    if fields:
        message = f"{message} {_FIELDS[language].format(fields=', '.join(dict.fromkeys(fields)))}"
    return language, message


def catalogue_reasons() -> set[str]:
    return set(_GENERIC)
