FROM maven:3.9.8-eclipse-temurin-21 AS build
WORKDIR /build
COPY pom.xml .
RUN mvn -B dependency:go-offline
COPY src ./src
RUN mvn -B package -DskipTests

FROM eclipse-temurin:21.0.4_7-jre
RUN groupadd --system app && useradd --system --gid app app
COPY --from=build /build/target/app.jar /opt/app/app.jar
USER app
EXPOSE 8080
HEALTHCHECK CMD ["curl", "-fsS", "http://localhost:8080/actuator/health"]
ENTRYPOINT ["java", "-jar", "/opt/app/app.jar"]
